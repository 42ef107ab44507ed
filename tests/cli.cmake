# cli/: the reel command's common behaviour (help, usage errors, exit codes). The subcommands
# that front a library feature are tested with that feature's module.
reel_test(test_cli_basic LABELS unit e2e)
# reel bench: -d/-b and the --bound report on the tiny GGUF fixture (no timings asserted)
reel_test(test_cli_bench LABELS unit e2e)
