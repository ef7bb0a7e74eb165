"""The inbox under concurrency, with real separate connections (two processes' worth): two texts from
one customer at the same instant make one conversation, and two workers never send one reply twice."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from app.db import Database, migrations
from app.inbox import delivery, replies, service
from app.models import Conversation, Reply, Sender
from app.providers.sandbox import SandboxProvider
from app.users import service as users

PHONE = "+14155552671"


class SlowSandbox(SandboxProvider):
    """A provider call that takes a while, so the two workers' attempts overlap."""

    async def _create_message(self, sender, *, to, body, status_callback):
        await asyncio.sleep(0.3)
        return await super()._create_message(sender, to=to, body=body, status_callback=status_callback)


def test_simultaneous_texts_make_one_conversation_and_a_reply_leaves_once(scratch_database_url, settings):
    migrations.upgrade(scratch_database_url)
    asyncio.run(_scenario(scratch_database_url, settings))


async def _scenario(url, settings):
    first, second = Database.from_url(url), Database.from_url(url)
    provider = SlowSandbox(["+15005550006"], account_sid=settings.account_sid, auth_token=settings.auth_token,
                           callbacks=False)
    try:
        async with first.unit_of_work() as session:
            session.add(Sender(kind="long_code", address="+15005550006", label="Main", mps=1, state="verified",
                               pool=[]))
            agent, _, _ = await users.create_user(session, email="ana@example.com", name="Ana", roles=["agent"],
                                                  actor=None)

        async def text(db, sid, body):
            async with db.unit_of_work() as session:
                return (await service.on_inbound(session, sid=sid, phone=PHONE, body=body,
                                                 params={"To": "+15005550006"}, settings=settings)).id

        ids = await asyncio.gather(text(first, "SM1", "hello?"), text(second, "SM2", "anyone there?"))
        assert ids[0] == ids[1]
        async with first.session() as session:
            assert await session.scalar(select(func.count()).select_from(Conversation)) == 1
        async with first.unit_of_work() as session:
            conversation = await session.get(Conversation, ids[0])
            user = await users.get_user(session, agent.id)
            reply = await replies.reply(session, conversation, author=user, body="Yes, we are here.",
                                        settings=settings)
        outcomes = await asyncio.gather(*(delivery.send(db, provider, settings, reply.id) for db in (first, second)))
        assert sorted(map(str, outcomes)) == ["None", "sent"]  # one worker sent it; the other found it taken
        assert len(provider.sent) == 1
        async with second.session() as session:
            stored = await session.get(Reply, reply.id)
            assert stored.state == "sent" and stored.provider_sid == provider.sent[0].sid and stored.attempts == 1
    finally:
        await provider.aclose()
        await first.dispose()
        await second.dispose()
