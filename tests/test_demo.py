"""`fineline demo` tells the whole story from a fresh checkout: run it as a user would."""

from __future__ import annotations

import os
import pty
import subprocess
import sys

from app.demo import Progress


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
    # Output to a pipe (a log): the progress is one plain line per step, never redrawn in place.
    assert "\r" not in out
    steps = [line for line in out.splitlines() if line.startswith("   sent [")]
    assert len(steps) >= 2 and len(set(steps)) == len(steps), steps
    assert steps[-1].endswith("[paused]")


def test_progress_redraws_one_line_on_a_terminal():
    master, replica = pty.openpty()
    with os.fdopen(replica, "w") as terminal:
        progress = Progress(terminal)
        progress.show("sent 1/3")
        progress.show("sent 2/3")
        progress.end()
    chunks = []
    while True:  # everything written, until the closed terminal reads as EOF (or EIO on Linux)
        try:
            chunk = os.read(master, 1000)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    drawn = b"".join(chunks).decode()
    assert drawn.startswith("\rsent 1/3") and "\rsent 2/3" in drawn
    assert drawn.count("\n") == 1  # the line ends once, when the progress is over


def test_progress_off_a_terminal_prints_each_change_once(tmp_path):
    with open(tmp_path / "log", "w") as log:
        progress = Progress(log)
        for text in ("sent 1/3", "sent 1/3", "sent 2/3"):
            progress.show(text)
        progress.end()
    assert (tmp_path / "log").read_text() == "sent 1/3\nsent 2/3\n"
