"""INSERT … ON CONFLICT on both backends (stores an inbound event once by its id; upserts a row).

The hot webhook statements are built once (per dialect, where the construct differs) with bound
parameters and executed with a dict: SQLAlchemy then skips building the statement and computing
its cache key on every request, which cost as much as the round trip itself.
"""

from __future__ import annotations

from functools import cache

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def insert_for(dialect: str, table):
    """The backend's INSERT construct (for ON CONFLICT … DO NOTHING / DO UPDATE, same SQL on both)."""
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


@cache
def _insert_ignore(dialect: str, table, conflict: tuple[str, ...]):
    return insert_for(dialect, table).on_conflict_do_nothing(index_elements=list(conflict))


async def insert_ignore(session: AsyncSession, model, values: dict, *, conflict: list[str]) -> bool:
    """Insert one row unless one with the same ``conflict`` columns exists. True when inserted.

    Columns not in ``values`` get their defaults (ids, timestamps) as with any Core insert.
    """
    table = getattr(model, "__table__", model)  # Core, not an ORM bulk insert: nothing to load back
    connection = await session.connection()
    result = await connection.execute(_insert_ignore(connection.dialect.name, table, tuple(conflict)), values)
    return (result.rowcount or 0) == 1
