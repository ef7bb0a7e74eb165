"""Throwaway databases for tests: a fresh PostgreSQL database per use, or an SQLite file."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

from sqlalchemy.engine import make_url

from app.db.admin import on_server


def server_url() -> str | None:
    return os.environ.get("TEST_DATABASE_URL") or None




def create_database(tmp_dir: Path, label: str = "run") -> str:
    """A URL for a brand-new empty database (call outside a running event loop)."""
    base = server_url()
    if base is None:
        return f"sqlite+aiosqlite:///{tmp_dir / f'fineline_{label}_{uuid.uuid4().hex[:8]}.db'}"
    name = f"fineline_test_{label}_{uuid.uuid4().hex[:10]}"
    try:
        asyncio.run(on_server(base, f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        raise RuntimeError(f"cannot create a test database on TEST_DATABASE_URL={base}: {exc}") from exc
    return make_url(base).set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    if url.startswith("sqlite"):
        path = Path(make_url(url).database or "")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    name = make_url(url).database
    asyncio.run(on_server(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
