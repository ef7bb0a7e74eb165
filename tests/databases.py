"""Throwaway databases for tests: a fresh PostgreSQL database per use, or an SQLite file."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

from sqlalchemy.engine import make_url

from app.db import admin


def server_url() -> str | None:
    return os.environ.get("TEST_DATABASE_URL") or None


def create_database(tmp_dir: Path, label: str = "run") -> str:
    """A URL for a brand-new empty database (call outside a running event loop)."""
    base = server_url()
    if base is None:
        return f"sqlite+aiosqlite:///{tmp_dir / f'fineline_{label}_{uuid.uuid4().hex[:8]}.db'}"
    name = f"fineline_test_{label}_{uuid.uuid4().hex[:10]}"
    try:
        return asyncio.run(admin.create_database(base, name))
    except Exception as exc:
        raise RuntimeError(f"cannot create a test database on TEST_DATABASE_URL={base}: {exc}") from exc


def drop_database(url: str) -> None:
    if url.startswith("sqlite"):
        path = Path(make_url(url).database or "")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    asyncio.run(admin.drop_database(url))
