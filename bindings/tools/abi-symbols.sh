#!/bin/sh
# Prints the exported functions of the C ABI, one per line, sorted: the name of every
# declaration in include/imr.h that starts with the IMR_API marker. The linker
# version script, the symbol check and the Python table check all start from this list.
set -eu
header=${1:-"$(dirname "$0")/../../include/imr.h"}
sed -n 's/^IMR_API[^(]*[^A-Za-z0-9_]\(imr_[A-Za-z0-9_]*\)[[:space:]]*(.*/\1/p' "$header" | sort -u
