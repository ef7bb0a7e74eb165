"""A STOP never waits behind status callbacks for a connection (issue 15): the inbound webhook has a
pool of its own on PostgreSQL. The API's main pool is cut to one connection and that one is held, so
a status callback's batch cannot get a connection; a STOP posted meanwhile is still stored, committed
and answered, and the callback is answered only once the connection is free again."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import text

import app.main as main_module
from app.config import Settings
from app.db import Database, migrations
from app.main import create_app
from tests.twilio_signing import PUBLIC, sign

pytestmark = pytest.mark.httpx_mock(should_mock=lambda request: request.url.host != "fineline.test")


async def test_a_stop_is_answered_while_callbacks_wait_for_every_connection(scratch_database_url, monkeypatch):
    if scratch_database_url.startswith("sqlite"):
        pytest.skip("SQLite has one writer: STOPs and callbacks share its one database by design")
    await asyncio.to_thread(migrations.upgrade, scratch_database_url)
    from_url = Database.from_url

    def one_connection_main_pool(url, **kwargs):  # the inbound pool keeps the sizes app.main gives it
        return from_url(url, **(kwargs or {"pool_size": 1, "max_overflow": 0}))

    monkeypatch.setattr(main_module.Database, "from_url", staticmethod(one_connection_main_pool))
    settings = Settings(database_url=scratch_database_url, provider="sandbox", worker="off", public_base_url=PUBLIC,
                        twilio_auth_token="test-auth-token", twilio_account_sid="AC" + "1" * 32, _env_file=None)
    app = create_app(settings)
    observer = from_url(scratch_database_url)
    callback = {"MessageSid": "SM" + "7" * 32, "MessageStatus": "delivered", "AccountSid": "AC" + "1" * 32}
    stop = {"MessageSid": "SM" + "8" * 32, "SmsSid": "SM" + "8" * 32, "AccountSid": "AC" + "1" * 32,
            "From": "+14155550123", "To": "+15005550006", "Body": "STOP", "NumMedia": "0"}
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=PUBLIC) as client:
        assert app.state.inbound_db is not app.state.db
        held = await app.state.db.engine.connect()  # the main pool's only connection
        try:
            posted = asyncio.create_task(client.post(
                "/webhooks/twilio/status", data=callback,
                headers={"X-Twilio-Signature": sign(PUBLIC + "/webhooks/twilio/status", callback)}))
            await asyncio.sleep(0.2)  # its batch is waiting for a connection
            answer = await asyncio.wait_for(client.post(
                "/webhooks/twilio/inbound", data=stop,
                headers={"X-Twilio-Signature": sign(PUBLIC + "/webhooks/twilio/inbound", stop)}), timeout=20)
            assert answer.status_code == 200 and "<Message>" in answer.text
            assert not posted.done()  # the callback still waits: it was never ahead of the STOP
            async with observer.session() as session:  # committed before the 200
                assert await session.scalar(text("SELECT count(*) FROM suppression WHERE phone = '+14155550123'")) == 1
                assert await session.scalar(text("SELECT count(*) FROM status_callback")) == 0
        finally:
            await held.close()
        assert (await asyncio.wait_for(posted, timeout=20)).status_code == 204
    async with observer.session() as session:
        assert await session.scalar(text("SELECT count(*) FROM status_callback")) == 1
    await observer.dispose()
