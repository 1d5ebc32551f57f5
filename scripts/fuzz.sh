#!/usr/bin/env bash
# Coverage-guided fuzzing (cargo fuzz, libFuzzer) of the parsers outsiders
# and staff reach: definitions, respondents' form bodies, sample CSVs and
# margins CSVs. The machines have one stable toolchain, so the sanitizer
# flags cargo fuzz needs are unlocked with RUSTC_BOOTSTRAP=1.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   (default 600 s, all)
#
# A crash is saved under fuzz/artifacts/TARGET/; turn it into a regression
# test (tests/it/fuzz.rs keeps the seeds; `cargo test --test it -- fuzz::`
# runs them) before fixing it.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(definition form_body sample_csv margins_csv)
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
export RUSTC_BOOTSTRAP=1
# Build every target once, then run the built binaries: a source edit during
# a long run must not start a second, instrumented build halfway through.
built=$(date +%s)
cargo fuzz build >/tmp/fuzz-build.log 2>&1 || { echo "fuzz build failed; see /tmp/fuzz-build.log"; exit 1; }
echo "instrumented build: $(( $(date +%s) - built )) s"
bin_dir=target/x86_64-unknown-linux-gnu/release
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target" "artifacts/$target"
  started=$(date +%s)
  "$bin_dir/$target" "corpus/$target" -artifact_prefix="artifacts/$target/" \
    -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 \
    >"/tmp/fuzz-$target.log" 2>&1 || { echo "$target: crashed; see /tmp/fuzz-$target.log and fuzz/artifacts/$target"; exit 1; }
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "/tmp/fuzz-$target.log" | tail -1)
  echo "$target: $(( $(date +%s) - started )) s, ${runs:-?} inputs, no crash"
done
