#!/usr/bin/env bash
# The house format (.clang-format) over every C and CUDA source the project owns.
#   scripts/dev/format.sh           rewrite the files in place
#   scripts/dev/format.sh --check   list the files that differ and exit 1 (changes nothing)
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v clang-format >/dev/null || { echo "format: clang-format is missing (make deps)" >&2; exit 1; }
mapfile -t files < <(git ls-files -- '*.c' '*.h' '*.cu' 2>/dev/null ||
                     find core kernels llm pipeline plugins cli tests scripts examples -name '*.[ch]' -o -name '*.cu')
if [ "${1:-}" = "--check" ]; then
  bad=()
  for f in "${files[@]}"; do
    clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
  done
  if [ ${#bad[@]} -gt 0 ]; then
    printf 'format: %s differs from .clang-format\n' "${bad[@]}" >&2
    echo "format: ${#bad[@]} of ${#files[@]} files differ; 'make format' rewrites them" >&2
    exit 1
  fi
  echo "format: ${#files[@]} files follow .clang-format"
else
  clang-format -i "${files[@]}"
fi
