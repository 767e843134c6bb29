#!/usr/bin/env bash
# Runs one fuzz target for a number of seconds on its committed corpus and prints one
# summary line: executions, rate, coverage (libFuzzer's cov: edges and ft: features of
# its final line), and the reproducer of a crash, leak or sanitizer report if there is one.
# Exits non-zero on a finding.
#
#   Tests/Fuzz/run.sh TARGET SECONDS BINARY WORKDIR
#
# FUZZ_RUNS=N also stops it after N executions.
# New inputs go to WORKDIR/corpus/TARGET (the committed Tests/Fuzz/corpus/TARGET is read,
# never written); the log and any reproducer go to WORKDIR.
set -uo pipefail
target=$1 seconds=$2 binary=$3 workdir=$4
here=$(cd "$(dirname "$0")" && pwd)

# Scripts (the engines, the ABI) stay short: their cost grows with their length, and a few
# dozen steps reach every state the budgets and limits allow.
case $target in
  server|client) options=(-max_len=256) ;;
  abi) options=(-max_len=512 -dict="$here/dict/imr.dict") ;;
  *) options=(-dict="$here/dict/imr.dict") ;;
esac

mkdir -p "$workdir/corpus/$target" "$workdir/cwd-$target"
# Absolute paths: the target runs in a directory of its own (whatever files it makes, such
# as the C ABI target's store, stay there).
workdir=$(cd "$workdir" && pwd)
binary=$(cd "$(dirname "$binary")" && pwd)/$(basename "$binary")
corpora=("$workdir/corpus/$target")
[ -d "$here/corpus/$target" ] && corpora+=("$here/corpus/$target")
log=$workdir/$target.log
start=$SECONDS
# The Swift runtime's own crash handler would race AddressSanitizer's: libFuzzer reports.
cd "$workdir/cwd-$target" || exit 2
SWIFT_BACKTRACE=enable=no \
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
  "$binary" "${options[@]}" ${FUZZ_RUNS:+-runs=$FUZZ_RUNS} -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
  -artifact_prefix="$workdir/$target-" "${corpora[@]}" > "$log" 2>&1
status=$?
elapsed=$((SECONDS - start))

last=$(grep -a -E '^#[0-9]+' "$log" | tail -1)
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
cov=$(echo "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
ft=$(echo "$last" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
corp=$(echo "$last" | sed -n 's/.*corp: \([0-9]*\).*/\1/p')
reproducer=$(sed -n "s/.*Test unit written to \(.*\)/\1/p" "$log" | tail -1)

if [ $status -eq 0 ]; then
  printf 'fuzz-%-9s %10s runs in %4s s (%s/s)  cov %s  ft %s  corpus %s  no finding\n' \
    "$target" "${runs:-?}" "$elapsed" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}"
else
  printf 'fuzz-%-9s FINDING after %s runs (exit %s); log %s\n' "$target" "${runs:-?}" "$status" "$log"
  grep -a -m3 -E 'invariant broken|Fatal error|ERROR|runtime error|SUMMARY|No such' "$log" | cut -c1-400 | sed 's/^/  /'
  [ -n "$reproducer" ] && echo "  reproducer: $reproducer (run: $binary $reproducer)"
fi
exit $status
