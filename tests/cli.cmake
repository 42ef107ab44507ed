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
