"""A pipeline dashboard hub's client: python-socketio connects to Vigilo's
/socket.io and listens for `pipeline_update`, unchanged (the server admits
anonymous clients to the pipeline feed with auth.public_pipeline_feed) or
with an API key in the connect packet. Posts one status report to the hub
with an ingest key and waits for it to arrive. Exits 0 on success.

    python_client.py URL KEY [anonymous|token] [polling]"""
import json
import sys
import threading
import urllib.request

import socketio

url, key = sys.argv[1], sys.argv[2]
mode = sys.argv[3] if len(sys.argv) > 3 else "anonymous"
transports = sys.argv[4:] or None
got = threading.Event()
seen = {}

sio = socketio.Client(reconnection=False)


@sio.on("pipeline_update")
def on_update(data):
    if data.get("pipeline") == "delta.pipeline" and data.get("probe") == "python":
        seen.update(data)
        got.set()


@sio.event
def connect_error(data):
    print(f"connect_error: {data}", file=sys.stderr)


auth = {"token": key} if mode == "token" else None
sio.connect(url, wait_timeout=10, transports=transports, auth=auth)
body = json.dumps({"status": "success", "pipeline": "delta.pipeline", "probe": "python", "changed": 3}).encode()
req = urllib.request.Request(
    f"{url}/api/v1/pipelines/delta.pipeline/events",
    data=body,
    headers={"content-type": "application/json", "x-api-key": key},
    method="POST",
)
with urllib.request.urlopen(req, timeout=10) as resp:
    assert resp.status == 202, resp.status
ok = got.wait(10)
sio.disconnect()
if not ok:
    print("no pipeline_update within 10 s", file=sys.stderr)
    sys.exit(1)
assert seen["status"] == "success" and seen["changed"] == 3, seen
print(f"python-socketio ({mode}, {','.join(transports or ['default transports'])}): pipeline_update received: {seen['pipeline']} {seen['status']}")
