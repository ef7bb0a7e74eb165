"""Statements that act on a PostgreSQL server rather than a database (CREATE/DROP DATABASE).

Used by the tests' scratch databases and the benchmarks' scratch databases alike.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from app.db.session import make_engine


async def on_server(url: str, statement: str) -> None:
    """Run ``statement`` outside a transaction on the server of ``url``, from its maintenance
    database ``postgres`` (a database cannot drop itself)."""
    maintenance = make_url(url).set(database="postgres").render_as_string(hide_password=False)
    engine = make_engine(maintenance, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


async def create_database(server_url: str, name: str) -> str:
    """A new empty database ``name`` on the server of ``server_url``; returns its URL."""
    await on_server(server_url, f'CREATE DATABASE "{name}"')
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


async def drop_database(url: str) -> None:
    """Drops the database of ``url``, connections to it and all (WITH (FORCE)); none is no error."""
    await on_server(url, f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')
