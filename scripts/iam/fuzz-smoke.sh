#!/usr/bin/env bash
# Run every vigilo-iam fuzz target for a few seconds (default 10; set
# FUZZ_SECONDS to change). Works on a stable toolchain: RUSTC_BOOTSTRAP=1 lets
# cargo-fuzz use the sanitizer flags. Installs cargo-fuzz when missing.
#
#   scripts/iam/fuzz-smoke.sh                # all targets
#   scripts/iam/fuzz-smoke.sh audit seed     # some targets
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
crate="$root/crates/vigilo-iam"
seconds="${FUZZ_SECONDS:-10}"
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$crate/fuzz/target}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(audit authorization_details policy_document credential_report seed exclusions render)
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cd "$crate"
for t in "${targets[@]}"; do
    corpus="$work/$t"
    mkdir -p "$corpus"
    cp fuzz/seeds/* "$corpus/"
    echo "== fuzz $t for ${seconds}s"
    log="$work/$t.log"
    if ! cargo fuzz run "$t" "$corpus" -- -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
        tail -n 60 "$log" >&2
        echo "fuzz target $t failed (see the input saved under crates/vigilo-iam/fuzz/artifacts/$t/)" >&2
        exit 1
    fi
    grep -E "^(Done [0-9]+ runs|stat::number_of_executed_units)" "$log" || tail -n 3 "$log"
done
echo "all fuzz targets ran clean"
