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

echo "== the server's integration tests again, on postgres"
# The test binaries the workspace run just built, run again with
# VIGILO_TEST_STORAGE=postgres (`cargo test -p vigilo-server` would rebuild
# dozens of crates: one package alone unifies features differently).
server_tests=$(cargo test --workspace --locked --no-run --message-format=json 2>/dev/null \
    | python3 scripts/test-binaries.py vigilo-server)
[ -n "$server_tests" ] || { echo "no vigilo-server test binaries found" >&2; exit 1; }
failed=0
for t in $server_tests; do
    (cd crates/vigilo-server && CARGO_MANIFEST_DIR="$PWD" VIGILO_TEST_STORAGE=postgres "$t" -q) || failed=1
done
[ "$failed" = 0 ] || { echo "the server's tests failed on postgres" >&2; exit 1; }
echo "== disk after the tests: $(df -h . | awk 'NR==2 {print $4}') free, target $(du -sh target 2>/dev/null | cut -f1)"

cargo build -p vigilo --locked

echo "== live channel with an unchanged python-socketio client"
scripts/live/python-client.sh target/debug/vigilo

echo "== web dashboard (lint, types, vitest, build, end-to-end in chromium)"
scripts/web/test.sh target/debug/vigilo

echo "== schemathesis (the API against its own OpenAPI document)"
scripts/schemathesis/run.sh target/debug/vigilo
