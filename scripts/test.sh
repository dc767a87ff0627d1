#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it: formatting, lints, a short
# fuzzing pass over every IAM parser, sigma-cli over the bundled rules, then
# every test of the workspace
# (unit, behaviour suites against real SQLite and PostgreSQL, HTTP through real servers,
# the binary under SIGTERM/SIGKILL, the live channel over a real WebSocket),
# the web dashboard (lint, types, unit tests, end-to-end in headless
# Chromium against a real server), then Schemathesis over the whole API.
# The server's integration tests run a second time on PostgreSQL.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The Kafka connector links the system OpenSSL (TLS and SASL SCRAM).
if ! pkg-config --exists openssl 2>/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "== installing OpenSSL headers and pkg-config for the Kafka connector"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libssl-dev pkg-config >/dev/null
    else
        echo "building needs OpenSSL headers and pkg-config (apt-get install libssl-dev pkg-config)" >&2
        exit 1
    fi
fi

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

echo "== postgres (a local cluster on 127.0.0.1:5432 when none answers)"
scripts/postgres/ensure.sh

echo "== cargo test"
cargo test --workspace --locked

echo "== cargo test -p vigilo-server on postgres"
VIGILO_TEST_STORAGE=postgres cargo test -p vigilo-server --locked
echo "== disk after the tests: $(df -h . | awk 'NR==2 {print $4}') free, target $(du -sh target 2>/dev/null | cut -f1)"

cargo build -p vigilo --locked

echo "== live channel with an unchanged python-socketio client"
scripts/live/python-client.sh target/debug/vigilo

echo "== web dashboard (lint, types, vitest, build, end-to-end in chromium)"
scripts/web/test.sh target/debug/vigilo

echo "== schemathesis (the API against its own OpenAPI document)"
scripts/schemathesis/run.sh target/debug/vigilo
