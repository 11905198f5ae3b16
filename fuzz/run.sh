#!/usr/bin/env bash
# Bounded coverage-guided fuzz run of every target, run by the suite's `fuzz` module. It needs
# the nightly toolchain and cargo-fuzz (scripts/test installs both); the suite's `fuzz` module runs it for 60 s per target.
#
#   fuzz/run.sh            # 60 s per target
#   fuzz/run.sh 300        # 300 s per target
#   MERGE=1 fuzz/run.sh    # afterwards fold new coverage-increasing inputs into fuzz/corpus/
#
# The committed corpus fuzz/corpus/<target>/ is read, never written, during the run; new
# inputs go to a scratch directory. A crash leaves its input in fuzz/artifacts/<target>/ and
# makes this script exit non-zero. The same properties run in the normal suite through
# the suite's `props` module (proptest + a replay of the committed corpus).
set -euo pipefail
secs="${1:-60}"
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/.."
if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz/run.sh: the nightly toolchain is missing: rustup toolchain install nightly" >&2
    exit 1
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "fuzz/run.sh: cargo-fuzz is missing: cargo install cargo-fuzz" >&2
    exit 1
fi
status=0
failures="$(mktemp)"
for target in query json_escape; do
    scratch="$(mktemp -d)"
    echo "== $target: ${secs}s"
    # -jobs/-workers 1: the machine is shared; -rss_limit_mb bounds a runaway input.
    if ! cargo +nightly fuzz run "$target" "$scratch" "fuzz/corpus/$target" -- \
        -max_total_time="$secs" -rss_limit_mb=1024 -max_len=4096 -print_final_stats=1 \
        2> >(tee "$scratch.log" >&2); then
        status=1
        # What libFuzzer said of the crash, and where it left the input.
        { echo "== $target FAILED"; grep -E -A12 "panicked at|ERROR: |SUMMARY: |Test unit written" "$scratch.log"; } >>"$failures"
    fi
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb|cov:" "$scratch.log" | tail -3 || true
    if [ "${MERGE:-0}" = 1 ]; then
        cargo +nightly fuzz run "$target" "fuzz/corpus/$target" "$scratch" -- -merge=1 2>/dev/null || true
    fi
    rm -rf "$scratch" "$scratch.log"
done
# The failures last: a caller that keeps only the tail of the output still sees them.
cat "$failures" >&2
rm -f "$failures"
exit "$status"
