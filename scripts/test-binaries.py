#!/usr/bin/env python3
"""Print the test executables of one workspace package, read from
`cargo test --no-run --message-format=json` on stdin."""
import json
import os
import sys

package = sys.argv[1]
for line in sys.stdin:
    try:
        msg = json.loads(line)
    except ValueError:
        continue
    if msg.get("reason") != "compiler-artifact" or not msg.get("executable"):
        continue
    if not msg.get("profile", {}).get("test"):
        continue
    manifest = msg.get("manifest_path", "")
    if os.path.basename(os.path.dirname(manifest)) == package:
        print(msg["executable"])
