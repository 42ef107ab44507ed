# reel — the two commands:
#   make demo   build reel and render the example film (examples/film.lua)
#   make test   install missing Debian packages, configure, build and run every test
# Only `make deps` and `make test` install packages (scripts/setup.sh, which says what and why);
# `make`, `make build` and `make demo` stop and name what is missing instead.
# Build by hand: cmake -S . -B build && cmake --build build -j && ctest --test-dir build
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
JOBS       ?= $(shell nproc)
FUZZ_SECONDS ?= 30
FUZZ_SEED ?= 1
CMAKE_FLAGS ?=

.PHONY: all deps check-deps build test test-main test-asan test-fuzz test-mutation fuzz-long demo \
        format-check layout-check format clean

all: build

# Installs the Debian packages reel needs (apt-get; root or sudo).
deps:
	@scripts/setup.sh --check 2>/dev/null || { echo "make deps: installing the missing Debian packages (scripts/setup.sh)"; scripts/setup.sh; }

# Checks without installing: names the missing packages and how to get them.
check-deps:
	@scripts/setup.sh --check || { echo "make: run 'make deps' (or scripts/setup.sh) to install them" >&2; exit 1; }

build: check-deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j$(JOBS)

# Every test: the release build (unit, golden, e2e, fuzz-corpus replay), the ASan+UBSan build
# (unit tests), the libFuzzer targets for FUZZ_SECONDS each (clang), the mutation checks, the
# house format and the layout rules (no two files calling into each other, no file over 900
# lines).
test: deps
	$(MAKE) test-main test-asan test-fuzz test-mutation format-check layout-check
	@echo "make test: all test suites passed"

# Each ctest run ends with a one-line summary of what was skipped on this machine and why.
test-main: build
	@rm -f $(BUILD)/skipped-tests.txt
	ctest --test-dir $(BUILD) --output-on-failure -j$(JOBS)
	@scripts/dev/skip-summary.sh $(BUILD)/skipped-tests.txt

test-asan: check-deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DREEL_SANITIZE=ON -DREEL_CUDA=OFF -DREEL_BENCH=OFF $(CMAKE_FLAGS)
	cmake --build $(ASAN_BUILD) -j$(JOBS)
	@rm -f $(ASAN_BUILD)/skipped-tests.txt
	ctest --test-dir $(ASAN_BUILD) --output-on-failure -j$(JOBS) -L unit
	@scripts/dev/skip-summary.sh $(ASAN_BUILD)/skipped-tests.txt

test-fuzz: check-deps
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DREEL_FUZZ=ON -DREEL_SANITIZE=ON \
	    -DREEL_CUDA=OFF -DREEL_FUZZ_SECONDS=$(FUZZ_SECONDS) -DREEL_FUZZ_SEED=$(FUZZ_SEED) $(CMAKE_FLAGS)
	cmake --build $(FUZZ_BUILD) -j$(JOBS)
	ctest --test-dir $(FUZZ_BUILD) --output-on-failure -j$(JOBS) -L fuzz

# Mutation checks (tests/mutation.sh): a small deliberate arithmetic error in each kernel family,
# one at a time, in a scratch copy of the tree (build-mutation/); the unit tests that guard it
# must fail. Exits 1 if a mutation survives. From scratch it makes a release build of the tests it
# runs, then rebuilds one file and relinks per mutation.
test-mutation: check-deps
	JOBS=$(JOBS) tests/mutation.sh

# Exploration for developers (not part of make test): every fuzz target for 10 minutes from a
# fresh random seed. A crash leaves its input in build-fuzz/tests; add it to the target's corpus
# in tests/fuzz/corpus/ with the fix, so every later build replays it.
fuzz-long:
	$(MAKE) test-fuzz FUZZ_SECONDS=600 FUZZ_SEED=0

# Renders examples/film.lua into out/film.mp4 (with out/film.mp4.reel.json beside it). The
# model: --model via DEMO_ARGS, else $REEL_MODEL, else the default model, else the tiny test
# model (random weights: the film then uses the example plan, and reel says so).
DEMO_ARGS ?=
demo: build
	$(BUILD)/bin/reel run examples/film.lua --out out $(DEMO_ARGS)
	@echo "make demo: wrote out/film.mp4"

format-check:
	@scripts/dev/format.sh --check

format:
	scripts/dev/format.sh

# Needs the release build's object files.
layout-check: build
	python3 scripts/dev/check-layout.py $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
