"""`fineline worker --nice N` (FINELINE_WORKER_NICE) lowers the worker's CPU priority before it
starts sending, so on a shared host the API's STOPs and callbacks get a CPU first."""

from __future__ import annotations

import os

from typer.testing import CliRunner

import app.worker
from app.cli import app as cli

runner = CliRunner()


def _run(monkeypatch, args: list[str], env: dict[str, str] | None = None) -> tuple[list[int], object]:
    niced: list[int] = []

    async def no_worker(settings, **kwargs):
        niced.append(-1)  # the worker ran, after any nice

    monkeypatch.setattr(os, "nice", lambda n: niced.append(n) or n)
    monkeypatch.setattr(app.worker, "run_worker", no_worker)
    monkeypatch.setenv("FINELINE_DATABASE_URL", "sqlite+aiosqlite:///unused.db")
    monkeypatch.setenv("FINELINE_PROVIDER", "sandbox")
    return niced, runner.invoke(cli, ["worker", *args], env=env)


def test_nice_lowers_the_priority_before_the_worker_runs(monkeypatch):
    niced, result = _run(monkeypatch, ["--nice", "10"])
    assert result.exit_code == 0, result.output
    assert niced == [10, -1]


def test_the_environment_sets_it_and_none_means_unchanged(monkeypatch):
    niced, result = _run(monkeypatch, [], env={"FINELINE_WORKER_NICE": "7"})
    assert result.exit_code == 0 and niced == [7, -1]
    niced, result = _run(monkeypatch, [], env={"FINELINE_WORKER_NICE": "0"})
    assert result.exit_code == 0 and niced == [-1]


def test_out_of_range_is_refused_by_name(monkeypatch):
    niced, result = _run(monkeypatch, ["--nice", "40"])
    assert result.exit_code != 0 and "--nice" in result.output and niced == []
