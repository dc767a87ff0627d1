"""A pipeline dashboard hub's client, unchanged: python-socketio connects to
Vigilo's /socket.io and listens for `pipeline_update`. Posts one status
report to the hub and waits for it to arrive. Exits 0 on success."""
import json
import sys
import threading
import urllib.request

import socketio

url = sys.argv[1]
transports = sys.argv[2:] or None
got = threading.Event()
seen = {}

sio = socketio.Client(reconnection=False)


@sio.on("pipeline_update")
def on_update(data):
    if data.get("pipeline") == "delta.pipeline" and data.get("probe") == "python":
        seen.update(data)
        got.set()


sio.connect(url, wait_timeout=10, transports=transports)
body = json.dumps({"status": "success", "pipeline": "delta.pipeline", "probe": "python", "changed": 3}).encode()
req = urllib.request.Request(
    f"{url}/api/v1/pipelines/delta.pipeline/events",
    data=body,
    headers={"content-type": "application/json"},
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
print(f"python-socketio: pipeline_update received ({','.join(transports or ['default transports'])}): {seen['pipeline']} {seen['status']}")
