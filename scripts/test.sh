#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it: formatting, lints, a short
# fuzzing pass over every IAM parser, sigma-cli over the bundled rules, then
# every test of the workspace
# (unit, behaviour suites against real SQLite, HTTP through real servers,
# the binary under SIGTERM/SIGKILL, the live channel over a real WebSocket),
# the web dashboard (lint, types, unit tests, end-to-end in headless
# Chromium against a real server), then Schemathesis over the whole API.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== fuzz smoke (IAM parsers, ${FUZZ_SECONDS:-5}s each)"
FUZZ_SECONDS="${FUZZ_SECONDS:-5}" scripts/iam/fuzz-smoke.sh

echo "== sigma check (rule hygiene)"
scripts/sigma-check.sh

scripts/archive/s3.sh
echo "== kafka broker (tansu, installed when missing)"
scripts/kafka/broker.sh install

echo "== cargo test"
cargo test --workspace --locked

cargo build -p vigilo --locked

echo "== live channel with an unchanged python-socketio client"
scripts/live/python-client.sh target/debug/vigilo

echo "== web dashboard (lint, types, vitest, build, end-to-end in chromium)"
scripts/web/test.sh target/debug/vigilo

echo "== schemathesis (the API against its own OpenAPI document)"
scripts/schemathesis/run.sh target/debug/vigilo
