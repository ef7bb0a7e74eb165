"""Alembic environment: async engines, the URL from Fineline's settings (or a given connection)."""

from __future__ import annotations

import asyncio

from sqlalchemy.engine import Connection

import app.models  # noqa: F401  (registers every table)
from alembic import context
from app.config import Settings
from app.db.base import Base
from app.db.session import make_engine

config = context.config
target_metadata = Base.metadata


def _render_item(type_, obj, autogen_context):
    if type_ == "type" and type(obj).__name__ == "UTCDateTime":
        autogen_context.imports.add("import app.db.base")
        return "app.db.base.UTCDateTime()"
    return False


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        render_item=_render_item,
        compare_type=True,
    )


def _run_sync(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_sync)
            await connection.commit()
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_sync(connection)
        return
    url = config.attributes.get("database_url") or Settings().database_url
    asyncio.run(_run_async(url))


if context.is_offline_mode():
    context.configure(url=Settings().database_url, target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
