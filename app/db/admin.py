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
