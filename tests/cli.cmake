# cli/: the reel command's common behaviour (help, usage errors, exit codes). The subcommands
# that front a library feature are tested with that feature's module.
reel_test(test_cli_basic LABELS unit e2e)
# reel run's permission model (--allow-exec/--allow-host) and process hygiene, through the binary
reel_test(test_cli_run_sandbox LABELS unit e2e TIMEOUT 120)
reel_uses_plugins(test_cli_run_sandbox)
# reel bench: -d/-b and the --bound report on the tiny GGUF fixture (no timings asserted)
reel_test(test_cli_bench LABELS unit e2e)
# reel pull / reel models against a fake hub on 127.0.0.1: resume, checksums, tokens, 404s,
# the quantization picker, offline mode, -m OWNER/REPO:QUANT (one test waits out the retries
# of an unreachable hub, about 8 s)
reel_test(test_cli_pull LABELS unit e2e TIMEOUT 180)
# reel serve: the OpenAI-compatible server end to end on loopback (libcurl and the curl command),
# its request parser, and the official openai Python client (skipped without the package)
reel_test(test_cli_serve LABELS unit e2e TIMEOUT 600)
reel_test(test_cli_serve_request LABELS unit)
reel_fuzz(fuzz_serve_request SOURCES fuzz/fuzz_serve_request.c CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/serve_request)
if(NOT REEL_FUZZ)
    find_program(REEL_PYTHON3 python3)
    if(REEL_PYTHON3)
        add_test(NAME test_cli_serve_openai
                 COMMAND ${REEL_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/serve_openai_client.py)
        set_tests_properties(test_cli_serve_openai PROPERTIES LABELS e2e TIMEOUT 300
            SKIP_RETURN_CODE 77
            ENVIRONMENT "REEL_SKIP_LOG=${REEL_SKIP_LOG};REEL_SOURCE_DIR=${CMAKE_SOURCE_DIR};REEL_BIN=${REEL_TEST_BIN}")
    endif()
endif()
# --model openai:URL#MODEL on reel generate / plan / run against reel serve on the tiny model and
# a fake OpenAI server (cached generations ask nothing, API keys, a server ignoring the schema)
reel_test(test_cli_remote LABELS unit e2e TIMEOUT 300)
