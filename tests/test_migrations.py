"""The schema comes from Alembic: one head, models and migrations agree, and every step reverses."""

from __future__ import annotations

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import app.models  # noqa: F401
from app.db import migrations
from app.db.base import Base
from app.db.session import make_engine


def test_there_is_exactly_one_head():
    assert len(migrations.heads()) == 1


def _diff(url: str) -> list:
    async def run():
        engine = make_engine(url)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(
                    lambda sync: compare_metadata(
                        MigrationContext.configure(sync, opts={"compare_type": True}), Base.metadata
                    )
                )
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_models_and_migrations_agree(scratch_database_url):
    migrations.upgrade(scratch_database_url)
    assert _diff(scratch_database_url) == []


def test_upgrade_downgrade_upgrade(scratch_database_url):
    migrations.upgrade(scratch_database_url)
    migrations.downgrade(scratch_database_url, "base")
    migrations.upgrade(scratch_database_url)
    assert _diff(scratch_database_url) == []
