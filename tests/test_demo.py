"""`fineline demo` tells the whole story from a fresh checkout: run it as a user would."""

from __future__ import annotations

import os
import subprocess
import sys


def test_demo_runs_and_the_guard_pauses_the_campaign(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FINELINE_", "TEST_DATABASE_URL"))}
    result = subprocess.run([sys.executable, "-m", "app.cli", "demo", "--audience", "200"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "is not a verified company sender" in out  # the personal mobile was refused
    assert "Mia tries to approve her own campaign: 403" in out
    assert "ALERT unsubscribe_spike" in out and "action: paused" in out
    assert "Summary: campaign paused" in out
    assert "Ana answers from the company's number: sent" in out
    assert "Ana tries a personal reply: 202, held for review" in out
    assert "now Ben's, history kept" in out
