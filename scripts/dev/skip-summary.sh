#!/usr/bin/env bash
# One line saying which tests were skipped on this machine and why (from the log the tests append
# to; see tests/testutil.h, tu_skip), then the reasons, one a line. Prints "no tests skipped"
# when the log is absent.
log=${1:?usage: skip-summary.sh SKIP_LOG}
if [ ! -s "$log" ]; then
  echo "skipped: none (every test ran on this CPU)"
  exit 0
fi
n=$(wc -l <"$log")
echo "skipped: $n test(s) could not run on this machine ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')):"
sort "$log" | sed 's/^/  /'
