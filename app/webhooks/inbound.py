"""An inbound SMS: stored once by its MessageSid, classified, acted on, answered.

Order matters (docs/design.md, invariants 3 and 8): the message is stored first (a repeated delivery
finds it and changes nothing), then the opt-out or opt-in is applied, and the caller commits
before the 200 — so a STOP is durable before Twilio hears back. A one-word reply that is a
list's join keyword on the sender it was texted to (looked up only after the keywords, so STOP
never waits for it) signs the number up (app/audience/signup.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts import guard
from app.audience import consent, signup, texts
from app.audience.keywords import Keyword, classify
from app.config import Settings
from app.db.base import new_id, utcnow
from app.db.upsert import insert_ignore
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
