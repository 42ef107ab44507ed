# cli/: the reel command's common behaviour (help, usage errors, exit codes). The subcommands
# that front a library feature are tested with that feature's module.
reel_test(test_cli_basic LABELS unit e2e)
