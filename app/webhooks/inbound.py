"""An inbound SMS: stored once by its MessageSid, classified, acted on, answered.

Order matters (docs/design.md, invariants 3 and 8): the message is stored first (a repeated delivery
finds it and changes nothing), then the opt-out or opt-in is applied, and the caller commits
before the 200 — so a STOP is durable before Twilio hears back. A one-word reply that is a
list's join keyword on the sender it was texted to (looked up only after the keywords, so STOP
never waits for it) signs the number up (app/audience/signup.py). On PostgreSQL a STOP's writes —
the stored message, the opt-out and its attribution — are one statement, the opt-out gated on the
message being new and the attribution on the suppression being new (``_stop_in_one_statement``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from sqlalchemy import bindparam, exists, literal, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts import guard
from app.audience import consent, signup, texts
from app.audience.keywords import Keyword, classify
from app.config import Settings
from app.db.base import new_id, utcnow
from app.db.upsert import insert_for, insert_ignore
from app.inbox import replies as inbox_replies
from app.inbox import service as inbox
from app.models import InboundMessage


@dataclass(frozen=True)
class InboundResult:
    kind: Keyword
    duplicate: bool
    reply: str | None


async def handle(session: AsyncSession, params: dict[str, str], settings: Settings) -> InboundResult:
    sid = params.get("MessageSid") or params.get("SmsSid") or ""
    phone = (params.get("From") or "").strip()
    body = params.get("Body") or ""
    kind = classify(body)
    if not sid or not phone:
        return InboundResult(kind, duplicate=False, reply=None)
    join = None
    if kind is Keyword.REPLY:  # after the keywords: STOP always wins, and never waits for this look-up
        join = await signup.find_join(session, to=params.get("To") or "",
                                      messaging_service_sid=params.get("MessagingServiceSid"), body=body)
        kind = Keyword.JOIN if join is not None else kind
    if kind is Keyword.OPT_OUT and (await session.connection()).dialect.name == "postgresql":
        return await _stop(session, params, sid=sid, phone=phone, body=body, settings=settings)
    stored = await insert_ignore(session, InboundMessage, {
        "id": new_id("inb"), "message_sid": sid, "from_phone": phone,
        "to": params.get("To") or "", "body": body, "classification": kind.value, "params": params,
        "received_at": utcnow(),
    }, conflict=["message_sid"])
    if not stored:
        return InboundResult(kind, duplicate=True, reply=None)
    brand = settings.brand_name
    if kind is Keyword.OPT_OUT:
        if await consent.opt_out(session, phone, channel="keyword", reason=f"replied {body.strip()[:60]!r}",
                                 inbound_sid=sid):
            await guard.record_opt_out(session, phone, settings=settings)  # judged now, not minutes later
        return InboundResult(kind, False, texts.opted_out(brand))
    if kind is Keyword.OPT_IN:
        await consent.opt_back_in(session, phone, channel="keyword", evidence=f"replied {body.strip()[:60]!r}",
                                  inbound_sid=sid)
        return InboundResult(kind, False, texts.opted_back_in(brand))
    if kind is Keyword.CONFIRM:
        confirmed = await consent.confirm(session, phone, inbound_sid=sid, evidence=f"replied {body.strip()[:60]!r}")
        if confirmed:
            return InboundResult(kind, False, texts.confirmed(brand))
        if await consent.active_suppression(session, phone) is not None:
            await consent.opt_back_in(session, phone, channel="keyword", evidence=f"replied {body.strip()[:60]!r}",
                                      inbound_sid=sid)
            return InboundResult(kind, False, texts.opted_back_in(brand))
        # Nothing to confirm: a "Yes" is the customer answering the company ("Reply YES to book"), so it
        # goes to the inbox below like any reply, never dropped.
    if kind is Keyword.HELP:
        return InboundResult(kind, False, texts.help_text(brand, settings.help_contact))
    if join is not None:  # the list's confirmation goes through the worker's provider gate, not TwiML
        await signup.keyword_join(session, join, phone=phone, body=body, to=params.get("To") or "", sid=sid,
                                  settings=settings)
        return InboundResult(kind, False, None)
    # Not a keyword: a customer talking to the company. It lands in the inbox, never on a phone.
    conversation = await inbox.on_inbound(session, sid=sid, phone=phone, body=body, params=params, settings=settings)
    if conversation is not None:
        await inbox_replies.queue_auto_reply(session, conversation, settings=settings)
    return InboundResult(kind, False, None)


@cache
def _stop_in_one_statement():
    """PostgreSQL: a STOP's whole write as one statement (data-modifying CTEs) — the inbound row
    unless its MessageSid is stored (a replay then changes nothing), the opt-out's four steps gated
    on that row (``consent.opt_out_steps``), and the attribution with its campaign's count gated on
    the suppression being new (``guard.attribute_and_count``): the same steps as SQLite's statement
    by statement, in one round trip instead of three. PostgreSQL runs a step whose RETURNING another
    reads before that one (so the gates hold, and the message is locked before its campaign); the
    others in an order of its own. No order among those matters: every opt-out of a number takes its
    suppression row first, so two of them serialise there. Returns one row:
    stored, newly, and the counted campaign's id, opt-outs, delivered and already_alerted (NULLs
    when nothing was attributed)."""
    table = InboundMessage.__table__
    stored = (insert_for("postgresql", table).values(
        id=bindparam("p_inbound_id", type_=table.c.id.type), message_sid=bindparam("p_sid", type_=table.c.message_sid.type),
        from_phone=bindparam("p_phone", type_=table.c.from_phone.type), to=bindparam("p_to", type_=table.c.to.type),
        body=bindparam("p_body", type_=table.c.body.type), classification=bindparam("p_kind", type_=table.c.classification.type),
        params=bindparam("p_params", type_=table.c.params.type),
        received_at=bindparam("p_received_at", type_=table.c.received_at.type),
    ).on_conflict_do_nothing(index_elements=["message_sid"]).returning(table.c.id).cte("stored"))
    suppressed, steps = consent.opt_out_steps(when=exists(select(stored.c.id)))
    counted = guard.attribute_and_count(when=exists(select(suppressed.c.phone))).cte("counted")
    one = select(literal(1).label("one")).subquery("one")
    return (select(exists(select(stored.c.id)), exists(select(suppressed.c.phone)), counted.c.id, counted.c.opt_out_count,
                   counted.c.delivered_count, counted.c.already_alerted)
            .select_from(one.outerjoin(counted, true())).add_cte(stored, *steps))


async def _stop(session: AsyncSession, params: dict[str, str], *, sid: str, phone: str, body: str,
                settings: Settings) -> InboundResult:
    """A STOP on PostgreSQL: ``_stop_in_one_statement``, then the spike guard's judgement when the
    count could decide something (in the same transaction, the campaign row still locked)."""
    at = utcnow()
    reason = f"replied {body.strip()[:60]!r}"
    connection = await session.connection()
    stored, _, campaign_id, opt_outs, delivered, already_alerted = (await connection.execute(_stop_in_one_statement(), {
        "p_inbound_id": new_id("inb"), "p_sid": sid, "p_to": params.get("To") or "", "p_body": body,
        "p_kind": Keyword.OPT_OUT.value, "p_params": params, "p_received_at": at,
        **consent.opt_out_parameters(phone, channel="keyword", reason=reason, inbound_sid=sid, at=at),
        **guard.attribution_parameters(phone, settings=settings, at=at),
    })).one()
    if not stored:
        return InboundResult(Keyword.OPT_OUT, duplicate=True, reply=None)
    if campaign_id is not None:  # judged now, not minutes later
        await guard.judge_counted(session, campaign_id, opt_outs, delivered, already_alerted, settings=settings)
    return InboundResult(Keyword.OPT_OUT, False, texts.opted_out(settings.brand_name))
