#!/usr/bin/env bash
# The live channel with an unchanged python-socketio client (the kind a
# pipeline dashboard hub's users run): start a server that admits anonymous
# clients to the pipeline feed, connect with and without an API key, post a
# status report with an ingest key, expect it as `pipeline_update`; a
# server without that setting refuses the anonymous client.
#   scripts/live/python-client.sh [path/to/vigilo]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="${1:-$root/target/debug/vigilo}"

python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "python-socketio[client]==5.18.1" "websocket-client==1.9.2"

work="$(mktemp -d)"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
key="$("$bin" apikey create --data-dir "$work/data" --name hub --scopes ingest,read | tail -n 1)"
VIGILO_AUTH__PUBLIC_PIPELINE_FEED=true "$bin" serve --data-dir "$work/data" --listen "127.0.0.1:$port" >"$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
    sleep 0.1
done
# Default transports (long-polling, then the upgrade to WebSocket), then
# long-polling alone, as clients behind proxies without WebSocket run.
python3 "$here/python_client.py" "http://127.0.0.1:$port" "$key" anonymous
python3 "$here/python_client.py" "http://127.0.0.1:$port" "$key" anonymous polling
python3 "$here/python_client.py" "http://127.0.0.1:$port" "$key" token
# Without the setting, a client with no credentials is refused.
kill $server; wait $server 2>/dev/null || true
"$bin" serve --data-dir "$work/data" --listen "127.0.0.1:$port" >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
    sleep 0.1
done
if python3 "$here/python_client.py" "http://127.0.0.1:$port" "$key" anonymous 2>"$work/refused.log"; then
    echo "an anonymous live client was admitted without auth.public_pipeline_feed" >&2
    exit 1
fi
grep -q "unauthenticated" "$work/refused.log" || { cat "$work/refused.log" >&2; exit 1; }
echo "python-socketio (anonymous, no public feed): refused as unauthenticated"
python3 "$here/python_client.py" "http://127.0.0.1:$port" "$key" token
