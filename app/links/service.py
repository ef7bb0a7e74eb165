"""Tracked links in the database: made at send time, resolved by the redirect, clicks stored in batches."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ARRAY, BigInteger, String, bindparam, func, insert, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from app.links import bots
from app.models import Link, LinkClick, Message
from app.vocab.link import ClickKind

_LINK = Link.__table__
_CLICK = LinkClick.__table__
_MESSAGE = Message.__table__


@dataclass(frozen=True, slots=True)
class Resolved:
    """What the redirect needs of a link, and what its clicks record."""

    token: str
    destination: str
    expires_at: datetime
    campaign_id: str
    message_id: int
    subscriber_id: str
    position: int


@dataclass(frozen=True, slots=True)
class PendingClick:
    """A click answered but not yet stored (``app.links.clicks``)."""

    link: Resolved
    clicked_at: datetime
    method: str
    user_agent: str | None
    ip: str | None  # already truncated


async def add_links(session: AsyncSession, rows: Sequence[dict]) -> None:
    """One executemany for a batch's links (keys: the ``link`` columns)."""
    if rows:
        await session.execute(insert(_LINK), list(rows))


_RESOLVED = (_LINK.c.token, _LINK.c.destination, _LINK.c.expires_at, _LINK.c.campaign_id, _LINK.c.message_id,
             _LINK.c.subscriber_id, _LINK.c.position)


def _probes(keys: list, key_type, column, columns):
    """PostgreSQL: one primary-key probe per key of ``unnest($1)``, in a LATERAL subquery the planner
    cannot flatten (its LIMIT), so it never turns it into a scan of the table whatever it knows of it
    (``= ANY($1)`` on a never-analysed ``link`` was a sequential scan: tests/test_hot_plans.py). One
    statement text whatever the number of keys."""
    batch = func.unnest(bindparam("keys", keys, type_=ARRAY(key_type))).table_valued("key").render_derived(
        name="batch")
    one = select(*columns).where(column == batch.c.key).limit(1).lateral("found")
    return select(*one.c).select_from(batch).join(one, true())


def _resolve_statement(dialect: str, tokens: list[str]):
    if dialect == "postgresql":
        return _probes(tokens, String, _LINK.c.token, _RESOLVED)
    return select(*_RESOLVED).where(_LINK.c.token.in_(tokens))


async def resolve_many(session: AsyncSession, tokens: Sequence[str]) -> dict[str, Resolved]:
    """The links of ``tokens`` that exist (expired or not: the caller decides), by token."""
    if not tokens:
        return {}
    rows = await session.execute(_resolve_statement(session.get_bind().dialect.name, list(tokens)))
    return {row.token: Resolved(*row) for row in rows}


def _delivery_lookup(dialect: str, ids: list[int]):
    """The messages' delivery and sending times, one statement text whatever the batch's size."""
    columns = (_MESSAGE.c.id, _MESSAGE.c.delivered_at, _MESSAGE.c.sent_at)
    if dialect == "postgresql":
        return _probes(ids, BigInteger, _MESSAGE.c.id, columns)
    return select(*columns).where(_MESSAGE.c.id.in_(ids))


async def store_clicks(session: AsyncSession, clicks: Sequence[PendingClick], *, preview_seconds: float) -> dict[str, int]:
    """Judge each click (``bots.classify``, against its message's delivery) and insert them all at once.
    Returns the count per kind."""
    if not clicks:
        return {}
    ids = sorted({click.link.message_id for click in clicks})
    dialect = session.get_bind().dialect.name
    times = {row.id: row for row in await session.execute(_delivery_lookup(dialect, ids))}
    rows, counts = [], {}
    for click in clicks:
        message = times.get(click.link.message_id)
        delivered = None if message is None else (message.delivered_at or message.sent_at)
        verdict = bots.classify(user_agent=click.user_agent, method=click.method, clicked_at=click.clicked_at,
                                delivered_at=delivered, preview_seconds=preview_seconds)
        if message is not None and delivered is None and verdict.kind == ClickKind.HUMAN:
            # Links are stored before the provider call; a click before the send is even recorded is
            # within seconds of it: a previewer or scanner.
            verdict = bots.Verdict(ClickKind.BOT, "near_delivery")
        counts[verdict.kind.value] = counts.get(verdict.kind.value, 0) + 1
        link = click.link
        rows.append({"token": link.token, "campaign_id": link.campaign_id, "message_id": link.message_id,
                     "subscriber_id": link.subscriber_id, "position": link.position, "clicked_at": click.clicked_at,
                     "kind": verdict.kind.value, "bot_reason": verdict.reason,
                     "user_agent": (click.user_agent or None) and click.user_agent[:512], "ip": click.ip})
    await session.execute(insert(_CLICK), rows)
    return counts
