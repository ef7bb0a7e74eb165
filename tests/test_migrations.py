"""The schema comes from Alembic: one head, models and migrations agree, and every step reverses."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

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


def _run(url: str, *statements: tuple[str, list[dict] | None]) -> list[tuple]:
    """Execute ``statements`` in one transaction; the rows of the last one."""

    async def run():
        engine = make_engine(url)
        try:
            async with engine.begin() as connection:
                result = None
                for sql, params in statements:
                    result = await connection.execute(text(sql), params)
                return [tuple(row) for row in result] if result.returns_rows else []
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_the_campaign_state_rename_keeps_every_value_both_ways(scratch_database_url):
    """campaign.status/status_reason became state/state_reason: a rename, nothing stored is lost,
    and the downgrade gives the old names their values back."""
    url, now = scratch_database_url, datetime(2026, 12, 1, tzinfo=UTC)
    migrations.upgrade(url, "0008_alerts")
    _run(url,
         ('INSERT INTO "user" (id, email, name, roles, created_at) VALUES (:id, :email, :name, :roles, :now)',
          [{"id": "usr_m", "email": "m@example.com", "name": "M", "roles": '["marketer"]', "now": now}]),
         ("INSERT INTO sender (id, kind, address, label, mps, mps_overridden, state, pool, created_at) "
          "VALUES ('snd_s', 'short_code', '12345', 'S', 100, :no, 'verified', '[]', :now)", [{"no": False, "now": now}]),
         ("INSERT INTO campaign (id, name, author_id, sender_id, body, spike_policy, status, status_reason, oops_warned,"
          " created_at, updated_at) VALUES (:id, 'C', 'usr_m', 'snd_s', 'Hi. STOP to end', 'pause', :state, :reason,"
          " :no, :now, :now)",
          [{"id": "cmp_a", "state": "paused", "reason": "spike: 9 opt-outs", "no": False, "now": now},
           {"id": "cmp_b", "state": "draft", "reason": None, "no": False, "now": now}]))
    expected = [("cmp_a", "paused", "spike: 9 opt-outs"), ("cmp_b", "draft", None)]

    migrations.upgrade(url)
    assert _run(url, ("SELECT id, state, state_reason FROM campaign ORDER BY id", None)) == expected
    assert _run(url, ("SELECT id FROM campaign WHERE state = 'paused'", None)) == [("cmp_a",)]

    migrations.downgrade(url, "0008_alerts")
    assert _run(url, ("SELECT id, status, status_reason FROM campaign ORDER BY id", None)) == expected
