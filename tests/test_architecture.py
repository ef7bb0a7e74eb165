"""The layering of app/ (docs/architecture.md) is checked on every test run: the import-linter
contracts in pyproject.toml must hold, so a new import cycle or an import against the layers fails
pytest, and with it CI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint(directory: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=directory, env=env,
                          capture_output=True, text=True, timeout=120)


def test_app_keeps_its_import_contracts():
    run = _lint(ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout


def _lint_copy(tmp_path: Path, module: str, extra_line: str) -> subprocess.CompletedProcess:
    """lint-imports over a copy of app/ in which ``module`` gained ``extra_line``."""
    shutil.copytree(ROOT / "app", tmp_path / "app", ignore=shutil.ignore_patterns("__pycache__", "static"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    path = tmp_path.joinpath(*module.split(".")).with_suffix(".py")
    path.write_text(path.read_text(encoding="utf-8") + "\n\n" + extra_line + "\n", encoding="utf-8")
    return _lint(tmp_path, {**os.environ, "PYTHONPATH": str(tmp_path)})  # the copy, not the installed app


def test_a_new_cycle_between_domains_breaks_the_contracts(tmp_path):
    # campaigns → dispatch closes a cycle with dispatch → campaigns; a function-local import counts too.
    run = _lint_copy(tmp_path, "app.campaigns.service",
                     "def _sneaky():\n    from app.dispatch import runner  # noqa: F401")
    assert run.returncode != 0, run.stdout
    assert "No import cycles between app/'s packages" in run.stdout and "BROKEN" in run.stdout
    assert "app.campaigns.service -> app.dispatch.runner" in run.stdout


def test_an_import_of_a_router_breaks_the_contracts(tmp_path):
    run = _lint_copy(tmp_path, "app.campaigns.service", "from app.senders import router  # noqa: E402,F401")
    assert run.returncode != 0, run.stdout
    assert "Routers are the HTTP edge" in run.stdout
