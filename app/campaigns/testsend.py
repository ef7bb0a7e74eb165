"""Test sends: to the sender's own verified numbers only, from the campaign's verified sender.

A test number is an employee's own phone, and proves it: ``register_number`` sends a one-time code
to it through the normal provider gate (from a verified company sender); ``verify_number`` takes the
code back. The code is stored only as a salted hash, expires after ``test_code_ttl_seconds`` and
allows ``test_code_attempts`` guesses; a new code needs a minute's wait. Each employee holds at most
``test_numbers_per_user`` numbers. Only the campaign's owner, or a reviewer, test-sends, and at most
``test_sends_per_hour`` texts an hour each.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audience import consent
from app.audience.service import normalize_phone
from app.audit.service import record
from app.campaigns import content, template
from app.campaigns.service import content_context
from app.config import Settings
from app.db.base import utcnow
from app.errors import Conflict, Forbidden, Invalid, NotFound, ProviderFailed, TooManyRequests
from app.models import Campaign, Sender, Subscriber, TestNumber, TestSend, User
from app.providers.base import Provider
from app.providers.outcomes import SendResult, attempt
from app.vocab.roles import Role
from app.vocab.sender import SenderKind, SenderState

CODE_RESEND_SECONDS = 60


def _code_hash(number_id: str, code: str) -> str:
    return hashlib.sha256(f"{number_id}:{code}".encode()).hexdigest()


async def _code_sender(session: AsyncSession, sender_id: str | None) -> Sender:
    """The verified company sender a code leaves from: the one named, else the first that can."""
    query = select(Sender).where(Sender.state == SenderState.VERIFIED,
                                 Sender.kind != SenderKind.ALPHANUMERIC).order_by(Sender.id)
    if sender_id is not None:
        query = select(Sender).where(Sender.id == sender_id)
    sender = (await session.scalars(query.limit(1))).first()
    if sender is None or sender.state != SenderState.VERIFIED:
        raise Conflict("no verified company sender to send the code from" if sender_id is None else
                       f"sender {sender_id} is {sender.state if sender else 'unknown'}: codes, too, leave only from "
                       "a verified company sender", code="sender_not_verified")
    return sender


async def register_number(session: AsyncSession, user: User, phone: str, settings: Settings, *, provider: Provider,
                          sender_id: str | None = None, now: datetime | None = None) -> TestNumber:
    """Add (or re-prove) a test number: a one-time code goes to it; it is usable once verified."""
    now = now or utcnow()
    phone = normalize_phone(phone, settings)
    await _refuse_audience_numbers(session, phone, field="phone")
    number = await session.scalar(select(TestNumber).where(TestNumber.user_id == user.id, TestNumber.phone == phone)
                                  .with_for_update())
    if number is not None and number.verified_at is not None:
        return number
    if number is None:
        held = await session.scalar(select(func.count()).select_from(TestNumber).where(TestNumber.user_id == user.id))
        if held >= settings.test_numbers_per_user:
            raise Conflict(f"you already hold {held} test numbers (the limit); remove one first "
                           "(DELETE /v1/me/test-numbers/{id})", code="test_number_limit")
        number = TestNumber(user_id=user.id, phone=phone, code_attempts=0)
        session.add(number)
        await session.flush()
        record(session, "test_number.added", actor=user, target_type="user", target_id=user.id, phone=phone)
    elif number.code_sent_at is not None and now - number.code_sent_at < timedelta(seconds=CODE_RESEND_SECONDS):
        raise TooManyRequests(f"a code was sent to {phone} less than {CODE_RESEND_SECONDS} seconds ago; wait before "
                              "asking for another", code="code_sent_recently")
    sender = await _code_sender(session, sender_id)
    code = f"{secrets.randbelow(10**6):06d}"
    answer = await attempt(provider, sender, to=phone, body=f"{settings.brand_name}: your Fineline test-number code is "
                           f"{code}. It expires in {settings.test_code_ttl_seconds // 60} minutes. Not you? Ignore this text.")
    if answer.result == SendResult.SENDER_REFUSED:
        raise answer.error
    if answer.result != SendResult.SENT:
        raise ProviderFailed(f"the code could not be sent to {phone}: {answer.reason}")
    number.code_hash, number.code_sent_at, number.code_attempts = _code_hash(number.id, code), now, 0
    await session.flush()
    record(session, "test_number.code_sent", actor=user, target_type="user", target_id=user.id, phone=phone,
           sender_id=sender.id)
    return number


async def verify_number(session: AsyncSession, user: User, number_id: str, code: str, settings: Settings, *,
                        now: datetime | None = None) -> tuple[TestNumber, str | None]:
    """Check a code. Returns the number and, for a wrong code, the reason: the caller answers 422 and
    still commits, so the spent attempt counts (raising would roll it back)."""
    now = now or utcnow()
    number = await _own_number(session, user, number_id, lock=True)
    if number.verified_at is not None:
        return number, None
    if number.code_hash is None or number.code_sent_at is None or \
            now - number.code_sent_at > timedelta(seconds=settings.test_code_ttl_seconds):
        raise Conflict("the code has expired (or none was sent); ask for a new one with POST /v1/me/test-numbers",
                       code="code_expired")
    if number.code_attempts >= settings.test_code_attempts:
        raise Conflict("too many wrong codes; ask for a new one with POST /v1/me/test-numbers",
                       code="code_attempts_exhausted")
    if not hmac.compare_digest(number.code_hash, _code_hash(number.id, code.strip())):
        number.code_attempts += 1
        await session.flush()
        left = settings.test_code_attempts - number.code_attempts
        return number, f"the code is not the one sent to {number.phone}; {left} attempt(s) left"
    number.verified_at, number.code_hash = now, None
    await session.flush()
    record(session, "test_number.verified", actor=user, target_type="user", target_id=user.id, phone=number.phone)
    return number, None


async def remove_number(session: AsyncSession, user: User, number_id: str) -> None:
    number = await _own_number(session, user, number_id)
    await session.execute(delete(TestNumber).where(TestNumber.id == number.id))
    record(session, "test_number.removed", actor=user, target_type="user", target_id=user.id, phone=number.phone)


async def _own_number(session: AsyncSession, user: User, number_id: str, *, lock: bool = False) -> TestNumber:
    number = await session.get(TestNumber, number_id, with_for_update=lock or None)
    if number is None or number.user_id != user.id:
        raise NotFound(f"you have no test number with id {number_id}")
    return number


async def _refuse_audience_numbers(session: AsyncSession, phone: str, *, field: str) -> None:
    """A test number is an employee's own phone: never a subscriber's, never an opted-out number."""
    if await consent.active_suppression(session, phone) is not None:
        raise Invalid(f"{phone} has opted out; it cannot be a test number", field=field, code="opted_out")
    if await session.scalar(select(Subscriber.id).where(Subscriber.phone == phone)) is not None:
        raise Invalid(f"{phone} belongs to a subscriber; test sends go only to employees' own phones", field=field,
                      code="not_a_test_number")


async def numbers_of(session: AsyncSession, user: User) -> list[TestNumber]:
    return list((await session.scalars(select(TestNumber).where(TestNumber.user_id == user.id)
                                       .order_by(TestNumber.id))).all())


async def send(session: AsyncSession, campaign: Campaign, *, to: list[str], actor: User, provider: Provider,
               settings: Settings, now: datetime | None = None) -> dict:
    now = now or utcnow()
    if actor.id != campaign.owner_id and not actor.has_any(Role.REVIEWER):
        raise Forbidden(f"only the owner of campaign {campaign.id} (or a reviewer) may test-send it")
    own = {number.phone for number in await numbers_of(session, actor) if number.verified_at is not None}
    targets = []
    for index, raw in enumerate(to):
        phone = normalize_phone(raw, settings, field=f"to.{index}")
        if phone not in own:
            raise Invalid(f"{phone} is not one of your verified test numbers; test sends go only to your own "
                          "numbers, proven by a code (POST /v1/me/test-numbers, then …/verify), never to subscribers",
                          field=f"to.{index}", code="not_a_test_number")
        await _refuse_audience_numbers(session, phone, field=f"to.{index}")
        targets.append(phone)
    recent = await session.scalar(select(func.count()).select_from(TestSend).where(
        TestSend.user_id == actor.id, TestSend.created_at > now - timedelta(hours=1)))
    if recent + len(targets) > settings.test_sends_per_hour:
        raise TooManyRequests(f"you sent {recent} test texts in the last hour; the limit is "
                              f"{settings.test_sends_per_hour} an hour", code="test_send_rate")
    sender = await session.get(Sender, campaign.sender_id)
    if sender is None or not sender.is_verified:
        raise Conflict(f"the campaign's sender is {sender.state if sender else 'unknown'}: test sends, too, leave "
                       "only from a verified company sender", code="sender_not_verified")
    body = "[TEST] " + template.render(content.full_body(campaign.body, content_context(settings, sender=sender)),
                                       first_name=None, attributes={})
    results = []
    for phone in targets:
        # One number's failure is reported for that number; the texts that did go out stay recorded.
        answer = await attempt(provider, sender, to=phone, body=body)
        if answer.result == SendResult.SENDER_REFUSED:
            raise answer.error  # checked above; the gate saying no is a 409 for the whole request
        if answer.result == SendResult.OPTED_OUT:  # 21610: the number told the carrier STOP; that is an opt-out here too
            await consent.opt_out(session, phone, channel="provider",
                                  reason="the provider reports the recipient opted out (Twilio 21610) on a test send")
        if answer.result != SendResult.SENT:
            results.append({"to": phone, "sid": None, "test": True, "error": answer.reason[:300]})
            continue
        session.add(TestSend(campaign_id=campaign.id, user_id=actor.id, to=phone, body=body,
                             provider_sid=answer.sent.sid))
        results.append({"to": phone, "sid": answer.sent.sid, "test": True, "error": None})
    await session.flush()
    record(session, "campaign.test_sent", actor=actor, target_type="campaign", target_id=campaign.id, to=targets)
    return {"sent": results, "body": body}


async def count(session: AsyncSession, campaign_id: str) -> int:
    return int(await session.scalar(select(func.count()).select_from(TestSend)
                                    .where(TestSend.campaign_id == campaign_id)) or 0)
