#!/usr/bin/env bash
# Long fuzz run of every parser of outside data (crates/fuzz): WB_FUZZ_CASES cases per target
# (default 100,000), stable Rust. Prints the CPU model and load, then one line per target
# (cases, wall and CPU seconds, accepted / refused / defects, peak memory); exit 1 on a defect.
#
#   scripts/fuzz.sh                      # all targets, 100,000 cases each
#   scripts/fuzz.sh idx-images cifar10   # some targets (wb-fuzz --list names them)
#   WB_FUZZ_CASES=1000000 WB_FUZZ_SEED=7 scripts/fuzz.sh
#   scripts/fuzz.sh --libfuzzer [RUNS]   # also the cargo-fuzz targets, RUNS inputs each
#                                        # (default 100,000; needs cargo-fuzz and a C++ compiler)
#
# A defect is printed with its mutations and saved under $TMPDIR/wb-fuzz-defects/; rerun it with
# `target/debug/wb-fuzz TARGET --seed S --case I` or `--replay .../entropy.bin`.
set -euo pipefail
cd "$(dirname "$0")/.."

libfuzzer_runs=""
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --libfuzzer)
            libfuzzer_runs="${2:-100000}"
            if [ $# -ge 2 ]; then shift; fi
            ;;
        *) targets+=("$1") ;;
    esac
    shift
done

cases="${WB_FUZZ_CASES:-100000}"
echo "== $(date -u '+%Y-%m-%d %H:%M UTC'); $(lscpu | grep 'Model name' | sed 's/  */ /g'); $(nproc) cores"
echo "== load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

# The test profile is optimised (opt-level 3) and keeps overflow checks and debug assertions,
# which a fuzzer wants (an overflowing size must panic, not wrap); it shares its build with
# `cargo test`. The binary lands in $CARGO_TARGET_DIR/debug/ (default target/debug/).
cargo build --profile test -p wb-fuzz --bin wb-fuzz
status=0
WB_FUZZ_CASES="$cases" nice -n 5 "${CARGO_TARGET_DIR:-target}/debug/wb-fuzz" --errors 5 "${targets[@]}" || status=$?
echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

if [ -n "$libfuzzer_runs" ]; then
    # cargo-fuzz needs nightly-only flags (-Zsanitizer..., -Cpasses=sancov-module);
    # RUSTC_BOOTSTRAP=1 lets the stable compiler accept them. No sanitizer: ASan needs a
    # nightly standard library build. -O -a: optimised, with overflow checks.
    names=(idx_images idx_labels idx_dataset cifar10 cifar100 mlp_model linear_model image_folder features experiment_toml)
    if [ ${#targets[@]} -gt 0 ]; then names=("${targets[@]//-/_}"); fi
    for name in "${names[@]}"; do
        echo "== cargo fuzz: $name, $libfuzzer_runs runs"
        log="target/fuzz-libfuzzer-$name.log"
        start=$(date +%s)
        fuzz_status=0
        RUSTC_BOOTSTRAP=1 nice -n 5 cargo fuzz run --fuzz-dir crates/fuzz/libfuzzer -O -a -s none \
            "$name" -- -runs="$libfuzzer_runs" -max_len=4096 -timeout=30 -rss_limit_mb=4096 \
            -print_final_stats=1 >"$log" 2>&1 || fuzz_status=$?
        grep -E "^(#[0-9]+ *DONE|Done [0-9]+ runs|stat::number_of_executed_units|stat::peak_rss_mb|==[0-9]+== ERROR|SUMMARY|thread .* panicked|wb-fuzz target)" "$log" || true
        echo "   $(( $(date +%s) - start )) s wall, exit $fuzz_status (full log: $log)"
        if [ "$fuzz_status" != 0 ]; then status=1; fi
    done
    echo "== load average after libFuzzer: $(cut -d' ' -f1-3 /proc/loadavg)"
fi
exit $status
