"""INSERT … ON CONFLICT DO NOTHING on both backends (stores an inbound event once by its id)."""

from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def dialect_insert(session: AsyncSession, table):
    """The backend's INSERT construct (for ON CONFLICT … DO NOTHING / DO UPDATE, same SQL on both)."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


async def insert_ignore(session: AsyncSession, model, values: dict, *, conflict: list[str]) -> bool:
    """Insert one row unless one with the same ``conflict`` columns exists. True when inserted."""
    table = getattr(model, "__table__", model)  # Core, not an ORM bulk insert: nothing to load back
    statement = dialect_insert(session, table).values(**values).on_conflict_do_nothing(index_elements=conflict)
    result = await session.execute(statement)
    return (result.rowcount or 0) == 1
