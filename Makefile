# reel — the two commands:
#   make demo   build reel and render the example film (examples/film.lua)
#   make test   install missing dependencies, configure, build and run every test
# Build by hand: cmake -S . -B build && cmake --build build -j && ctest --test-dir build
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
JOBS       ?= $(shell nproc)
FUZZ_SECONDS ?= 30
CMAKE_FLAGS ?=

.PHONY: all deps build test test-main test-asan test-fuzz demo format-check format clean

all: build

deps:
	@scripts/setup.sh --check 2>/dev/null || scripts/setup.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j$(JOBS)

# Every test: the release build (unit, golden, e2e, fuzz-corpus replay), the ASan+UBSan build
# (unit tests), and the libFuzzer targets for FUZZ_SECONDS each (clang).
test: deps
	$(MAKE) test-main test-asan test-fuzz
	@echo "make test: all test suites passed"

test-main: build
	ctest --test-dir $(BUILD) --output-on-failure -j$(JOBS)

test-asan: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DREEL_SANITIZE=ON -DREEL_CUDA=OFF $(CMAKE_FLAGS)
	cmake --build $(ASAN_BUILD) -j$(JOBS)
	ctest --test-dir $(ASAN_BUILD) --output-on-failure -j$(JOBS) -L unit

test-fuzz: deps
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DREEL_FUZZ=ON -DREEL_SANITIZE=ON \
	    -DREEL_CUDA=OFF -DREEL_FUZZ_SECONDS=$(FUZZ_SECONDS) $(CMAKE_FLAGS)
	cmake --build $(FUZZ_BUILD) -j$(JOBS)
	ctest --test-dir $(FUZZ_BUILD) --output-on-failure -j$(JOBS) -L fuzz

demo: build
	@if [ -f examples/film.lua ]; then \
	    $(BUILD)/bin/reel run examples/film.lua --out out; \
	else \
	    echo "make demo: the film pipeline is not built yet (see README: what works today)"; \
	    $(BUILD)/bin/reel --version; $(BUILD)/bin/reel info --devices; \
	fi

format-check:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) --target format-check

format:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) --target format

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
