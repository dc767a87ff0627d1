#!/usr/bin/env bash
# Schemathesis over the whole API (one worker: hypothesis is not thread-safe
# in every path, and two workers once raised an internal error): start a server on a temp data dir, give
# it some traffic so listings and ids have something to find, then run every
# check in every phase against its own OpenAPI document. Exits non-zero on
# any failure, and when the server logged a panic or stopped answering.
#
#   scripts/schemathesis/run.sh [path/to/vigilo]   (default: target/debug/vigilo)
#   ST_EXAMPLES=100 ST_SEED=1 ...                  (examples per operation, seed)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="${1:-$root/target/debug/vigilo}"
version="4.32.5"

if ! command -v st >/dev/null || ! st --version 2>/dev/null | grep -q "$version"; then
    python3 -m pip install --quiet --disable-pip-version-check "schemathesis==$version"
fi

work="$(mktemp -d)"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
url="http://127.0.0.1:$port"
# An admin key for every call, made on the data dir before the start; the
# hooks keep the fuzzer from revoking it (VIGILO_ST_KEY_PREFIX).
key="$("$bin" apikey create --data-dir "$work/data" --name schemathesis --scopes admin 2>/dev/null | tail -n 1)"
export VIGILO_ST_KEY_ID=1
"$bin" serve --data-dir "$work/data" --listen "127.0.0.1:$port" >"$work/server.log" 2>&1 &
server=$!
cleanup() {
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

for _ in $(seq 1 100); do
    curl -sf "$url/healthz" >/dev/null && break
    sleep 0.1
done
curl -sf "$url/healthz" >/dev/null || { cat "$work/server.log"; echo "server did not start" >&2; exit 1; }

# Traffic that trips rules, so findings and events exist for the stateful phase.
"$bin" generate --target "$url" --api-key "$key" --rate 500 --duration 3s --incident-rate 60 --seed 7 >/dev/null

set +e
(
    cd "$here"
    PYTHONPATH="$here" st --config-file "$here/schemathesis.toml" run "$url/api/openapi.json" \
        --checks all \
        --header "Authorization: Bearer $key" \
        --phases examples,coverage,fuzzing,stateful \
        --max-examples "${ST_EXAMPLES:-100}" \
        --seed "${ST_SEED:-1}" \
        --generation-database none \
        --workers 1 \
        --no-color \
        --report junit --report-dir "$work/report"
) 2>&1 | tee "$work/st.log"
status=${PIPESTATUS[0]}
set -e

if ! curl -sf --max-time 5 "$url/healthz" >/dev/null; then
    echo "server stopped answering during the run" >&2
    status=1
fi
if grep -qi "panicked" "$work/server.log"; then
    grep -i -A5 "panicked" "$work/server.log" >&2
    echo "server panicked during the run" >&2
    status=1
fi
# One closing line in the plain `N passed, N failed` form.
generated="$(grep -Eo '[0-9]+ generated' "$work/st.log" | tail -1 | grep -Eo '[0-9]+' || echo 0)"
failed="$(grep -Eo 'found [0-9]+ unique failures?' "$work/st.log" | tail -1 | grep -Eo '[0-9]+' || echo 0)"
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
    failed=1
fi
echo "schemathesis: $((generated - failed)) passed, $failed failed"
exit "$status"
