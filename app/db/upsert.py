"""INSERT … ON CONFLICT on both backends (stores an inbound event once by its id; upserts a counter row)."""

from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def insert_for(session: AsyncSession, table):
    """The dialect's INSERT, which has ``on_conflict_do_nothing`` / ``on_conflict_do_update``."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


async def insert_ignore(session: AsyncSession, model, values: dict, *, conflict: list[str]) -> bool:
    """Insert one row unless one with the same ``conflict`` columns exists. True when inserted."""
    statement = insert_for(session, model).values(**values).on_conflict_do_nothing(index_elements=conflict)
    result = await session.execute(statement)
    return (result.rowcount or 0) == 1
