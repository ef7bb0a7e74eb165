"""What importing and building the served app allocated is frozen out of the garbage collector's scans
(app/asgi.py): a full collection then walks only what requests left behind, not ~140,000 objects of
modules and mapped classes, which paused the event loop for tens of milliseconds under a flood."""

from __future__ import annotations

import json
import os
import subprocess
import sys

PROBE = """
import gc, json, time
import app.asgi
garbage = [[i] for i in range(1000)]  # what a request might leave behind
started = time.perf_counter()
gc.collect()
print(json.dumps({"frozen": gc.get_freeze_count(), "tracked": len(gc.get_objects()),
                  "young": gc.get_threshold()[0], "collect_ms": (time.perf_counter() - started) * 1000}))
"""


def test_the_served_app_is_frozen_out_of_full_collections(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINELINE_")}
    env.update({"FINELINE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/gc.db", "FINELINE_PROVIDER": "sandbox",
                "FINELINE_WORKER": "off", "FINELINE_TWILIO_AUTH_TOKEN": "gc-test-token"})
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120,
                         cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    assert out.returncode == 0, out.stderr[-2000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["frozen"] > 50_000  # the app's own objects: out of every scan
    assert seen["tracked"] < 20_000  # what a full collection still walks
    assert seen["young"] > 700  # and the young generation is collected in larger steps
