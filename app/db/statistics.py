"""Fresh planner statistics after a bulk write, where the write happens (PostgreSQL).

Hot statements never depend on statistics (tests/test_hot_plans.py); set-based work that follows a
bulk write (materialising an audience right after its import) plans better with them, and
autovacuum analyses a freshly written table only some time later — or never, where it is off.
``ANALYZE`` samples a bounded number of rows (300 × the statistics target), so it costs about the
same for a table of a million rows as for one of a hundred thousand. SQLite plans without them.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

#: A bulk write of fewer rows than this leaves the statistics as they are.
WORTH_ANALYSING = 1000


async def analyse(session: AsyncSession, *tables: str) -> None:
    """``ANALYZE`` the tables inside the caller's transaction: its own rows count, and the statistics
    are visible to others once it commits."""
    if session.get_bind().dialect.name == "postgresql" and tables:
        await session.execute(text("ANALYZE " + ", ".join(f'"{table}"' for table in tables)))
