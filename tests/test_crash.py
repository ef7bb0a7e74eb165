"""Crashes with real processes (docs/design.md, invariants 5 and 8): a worker SIGKILLed mid-campaign, its
database connections cut mid-batch, the provider answering 500s. Every time, each subscriber ends
with exactly one message at the provider, nothing is lost and nothing stays in doubt.

The ground truth is counted at the fake Twilio server (tests/crash_support.py), by recipient.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from app.db import Database
from tests import crash_support as cs

LOOPBACK = pytest.mark.httpx_mock(should_mock=lambda request: request.url.host != "127.0.0.1")
pytestmark = [LOOPBACK]

DONE = {"sent", "delivered"}


async def _finished(db: Database, campaign_id: str, n: int) -> bool:
    states = await cs.message_states(db, campaign_id)
    return sum(states[s] for s in DONE) == n and await cs.campaign_state(db, campaign_id) == "completed"


async def _assert_exactly_once(db: Database, fake: cs.FakeTwilio, campaign_id: str, n: int) -> None:
    everyone = set(cs.phones(n))
    created = fake.created_by_to()
    assert set(created) == everyone, f"never reached the provider: {sorted(everyone - set(created))[:5]}"
    twice = {to: count for to, count in created.items() if count != 1}
    assert not twice, f"accepted more than once at the provider: {twice}"
    rows = await cs.messages(db, campaign_id)
    assert len(rows) == n
    assert {m.state for m in rows} <= DONE, {m.state for m in rows}
    # The SID we recorded is the one message the provider holds for that number.
    by_to = fake.sid_by_to()
    assert all(m.provider_sid == by_to[m.to] for m in rows)


async def test_sigkilled_worker_mid_campaign_loses_and_repeats_nothing(scratch_database_url, tmp_path):
    n = 150
    world = await cs.seed_world(scratch_database_url, n, mps=60)
    campaign_id = world["campaign"]["id"]
    db = Database.from_url(scratch_database_url)
    async with cs.FakeTwilio(latency_ms=50) as fake:
        env = cs.worker_env(scratch_database_url, fake.base)
        first = cs.Worker(env, tmp_path / "worker1.log")
        try:
            # Kill it with a batch half sent: some messages accepted at the provider, none recorded.
            await cs.wait_for(lambda: _async(len(fake.control.posts) >= n // 3), within=30,
                              what="the first worker to be sending")
        finally:
            first.kill()
        posts_at_kill = len(fake.control.posts)
        states = await cs.message_states(db, campaign_id)
        assert states["sending"] > 0, (states, first.output())  # really killed mid-batch
        assert 0 < posts_at_kill < n
        # The dead worker can never call the provider again, so its leases may end now rather than
        # in 30 s (the lease's own expiry is exercised by the connection-cut test below).
        await cs.expire_leases(db)
        second = cs.Worker(env, tmp_path / "worker2.log")
        try:
            await cs.wait_for(lambda: _finished(db, campaign_id, n), within=45, every=0.2,
                              what="the second worker to finish the campaign")
        except AssertionError:
            raise AssertionError(f"{await cs.message_states(db, campaign_id)}\n{second.output()}") from None
        finally:
            second.stop()
        await _assert_exactly_once(db, fake, campaign_id, n)
        assert max(fake.control.posts_by_to().values()) == 1  # not even a second request
    await db.dispose()


async def _async(value):
    return value


@pytest.mark.skipif(not (cs.os.environ.get("TEST_DATABASE_URL") or "").startswith("postgresql"),
                    reason="cuts PostgreSQL backends with pg_terminate_backend; SQLite has no connections to cut")
async def test_database_connections_cut_mid_batch_recovers_exactly_once(scratch_database_url, tmp_path):
    n = 150
    world = await cs.seed_world(scratch_database_url, n, mps=60)
    campaign_id = world["campaign"]["id"]
    db = Database.from_url(scratch_database_url)
    cuts = 0
    async with cs.FakeTwilio(latency_ms=50) as fake:
        worker = cs.Worker(cs.worker_env(scratch_database_url, fake.base), tmp_path / "worker.log")
        try:
            await cs.wait_for(lambda: _async(len(fake.control.posts) >= n // 4), within=30,
                              what="the worker to be sending")
            # A storm of cut connections while it drains: in the middle of claims, slot reservations
            # and the batch's recording transaction.
            for _ in range(20):
                async with db.engine.connect() as connection:
                    killed = await connection.scalar(text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
                    await connection.commit()
                cuts += killed or 0
                await asyncio.sleep(0.1)
            assert cuts > 0
            # Sends whose result could not be recorded stay in doubt until their lease (30 s) ends,
            # then are reconciled with the provider: found there, never sent again.
            try:
                await cs.wait_for(lambda: _finished(db, campaign_id, n), within=75, every=0.25,
                                  what="the worker to recover and finish the campaign")
            except AssertionError:
                raise AssertionError(f"{await cs.message_states(db, campaign_id)}\n{worker.output()}") from None
            assert worker.process.poll() is None, worker.output()  # it recovered; it did not die
        finally:
            worker.stop()
        await _assert_exactly_once(db, fake, campaign_id, n)
        assert max(fake.control.posts_by_to().values()) == 1
    await db.dispose()


async def test_provider_500s_are_reconciled_not_resent(scratch_database_url, tmp_path):
    n = 60
    world = await cs.seed_world(scratch_database_url, n, mps=100)
    campaign_id = world["campaign"]["id"]
    db = Database.from_url(scratch_database_url)
    async with cs.FakeTwilio(latency_ms=20, outage=True) as fake:
        worker = cs.Worker(cs.worker_env(scratch_database_url, fake.base), tmp_path / "worker.log")
        try:
            await cs.wait_for(lambda: _async(len(fake.control.posts) >= n), within=30,
                              what="every message to be tried during the outage")

            async def all_in_doubt():
                return (await cs.message_states(db, campaign_id))["unknown"] == n

            await cs.wait_for(all_in_doubt, within=15, what="the 500s to be recorded as unknown")
            lost = [to for to, created in fake.control.posts if created]
            assert 0 < len(lost) < n  # some accepted with the answer lost, some never accepted
            # The outage goes on a little: reconciliation cannot reach the provider and must wait.
            await asyncio.sleep(5.5)
            assert fake.control.lists > 0
            assert len(fake.control.posts) == n  # nothing resent blindly while in doubt
            assert (await cs.message_states(db, campaign_id))["unknown"] == n
            fake.control.outage = False
            try:
                await cs.wait_for(lambda: _finished(db, campaign_id, n), within=45, every=0.2,
                                  what="reconciliation and resends to finish the campaign")
            except AssertionError:
                raise AssertionError(f"{await cs.message_states(db, campaign_id)}\n{worker.output()}") from None
        finally:
            worker.stop()
        await _assert_exactly_once(db, fake, campaign_id, n)
        posts = fake.control.posts_by_to()
        # Numbers whose message was accepted during the outage were found, not asked again.
        assert all(posts[to] == 1 for to in lost)
        assert all(posts[to] == 2 for to in set(cs.phones(n)) - set(lost))
    await db.dispose()


async def test_shortest_allowed_lease_still_sends(scratch_database_url):
    """Every lease the configuration accepts leaves time to send: a worker never calls the provider
    later than LEASE_MARGIN before its lease ends, so a lease of LEASE_MARGIN seconds sends nothing
    (every claim is left untouched, reconciled, requeued, claimed again — forever)."""
    from annotated_types import Ge

    from app.config import Settings
    from app.dispatch import runner
    from app.providers import build_provider

    minimum = next(m.ge for m in Settings.model_fields["lease_seconds"].metadata if isinstance(m, Ge))
    world = await cs.seed_world(scratch_database_url, 3, mps=10)
    db = Database.from_url(scratch_database_url)
    async with cs.FakeTwilio() as fake:
        env = cs.worker_env(scratch_database_url, fake.base)
        settings = Settings(database_url=scratch_database_url, provider="twilio", quiet_hours="off",
                            twilio_account_sid=env["FINELINE_TWILIO_ACCOUNT_SID"],
                            twilio_auth_token=env["FINELINE_TWILIO_AUTH_TOKEN"], twilio_api_base=fake.base,
                            lease_seconds=minimum, _env_file=None)
        provider = build_provider(settings)
        sent, untouched, campaigns = 0, 0, set()
        try:
            # Until nothing is claimed: on a loaded machine a send that misses its rate slot is
            # requeued (never sent in a burst) and leaves with a later claim.
            for _ in range(10):
                result = await runner.dispatch_once(db, provider, settings)
                sent += result.counts["sent"]
                untouched += result.counts["untouched"]
                campaigns |= result.campaigns
                if not result.counts["claimed"]:
                    break
        finally:
            await provider.aclose()
            await db.dispose()
    assert (sent, untouched) == (3, 0), (f"FINELINE_LEASE_SECONDS={minimum} is accepted but sends nothing: "
                                         f"{dict(result.counts)}")
    assert len(fake.control.posts) == 3
    assert world["campaign"]["id"] in campaigns
