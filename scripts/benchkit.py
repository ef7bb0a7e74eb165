"""What every benchmark needs, once: a free local port and a scratch PostgreSQL database."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import make_url

from app.db import admin

LOCAL = ("127.0.0.1", "localhost", "::1")


def free_port() -> int:
    """A TCP port of 127.0.0.1 nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_local(url: str) -> None:
    host = make_url(url).host
    if host not in LOCAL:
        raise SystemExit(f"--pg-url must point at 127.0.0.1, not {host!r}")


@contextmanager
def scratch_database(pg_url: str, label: str, *, migrate: bool = False) -> Iterator[str]:
    """A new database on ``pg_url``'s server (127.0.0.1 only), its URL yielded, dropped WITH (FORCE)
    afterwards, even after an error or Ctrl-C. ``migrate``: brought to the latest migration first.
    Call outside a running event loop."""
    check_local(pg_url)
    name = f"fineline_bench_{label}_{uuid.uuid4().hex[:10]}"
    url = asyncio.run(admin.create_database(pg_url, name))
    print(f"created scratch database {name}", flush=True)
    try:
        if migrate:
            from app.db import migrations

            migrations.upgrade(url)  # runs its own event loop
        yield url
    finally:
        asyncio.run(admin.drop_database(url))
        print(f"dropped scratch database {name}", flush=True)
