"""What the operations endpoints ask of the database."""

from __future__ import annotations

from sqlalchemy import text

from app.db import Database, migrations


async def readiness(db: Database) -> tuple[bool, dict]:
    """Ready when the database answers and its schema is at the migrations' head: (ready, report)."""
    try:
        async with db.session() as session:
            await session.execute(text("SELECT 1"))
            current = await migrations.current_revisions(await session.connection())
    except Exception as exc:  # the database is down or unreachable
        return False, {"status": "unavailable", "database": f"unreachable: {type(exc).__name__}"}
    head = set(migrations.heads())
    migrated = {"current": sorted(current), "head": sorted(head)}
    if current != head:
        return False, {"status": "unavailable", "database": "reachable", "migrations": migrated}
    return True, {"status": "ok", "database": "reachable", "migrations": migrated}
