"""How long a finding takes to reach a connected Socket.IO client: post an
event that trips a bundled rule (an admin-scoped token, a new user each
time), wait for its `finding`. The time covers ingest, the group commit,
detection, the detection commit and the broadcast.

    python3 finding_latency.py http://127.0.0.1:8080 [samples]
"""
import json
import statistics
import sys
import threading
import time
import urllib.request
import uuid

import socketio

url = sys.argv[1]
samples = int(sys.argv[2]) if len(sys.argv) > 2 else 20
waiting = {}
lock = threading.Lock()

sio = socketio.Client(reconnection=False)


@sio.on("finding")
def on_finding(f):
    with lock:
        ev = waiting.get(f.get("user"))
    if ev is not None and f.get("rule_id") == "identity.admin_token":
        ev["at"] = time.perf_counter()
        ev["done"].set()


sio.connect(url, wait_timeout=10, transports=["websocket"])
times = []
for _ in range(samples):
    user = f"lat-{uuid.uuid4().hex[:8]}"
    ev = {"done": threading.Event()}
    with lock:
        waiting[user] = ev
    body = json.dumps({"event_type": "api_token_created", "user": user, "scopes": ["admin:*"], "has_expiry": True}).encode()
    req = urllib.request.Request(f"{url}/api/v1/events", data=body, headers={"content-type": "application/json"}, method="POST")
    start = time.perf_counter()
    urllib.request.urlopen(req, timeout=10).read()
    if not ev["done"].wait(10):
        print(f"no finding for {user} within 10 s", file=sys.stderr)
        sys.exit(1)
    times.append((ev["at"] - start) * 1000)
    # A quiet spell between samples: the first results after one commit at once.
    time.sleep(1.2)
sio.disconnect()
times.sort()
p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
print(f"event posted -> finding at a Socket.IO client, {samples} samples: p50 {statistics.median(times):.1f} ms, p95 {p95:.1f} ms, max {times[-1]:.1f} ms")
