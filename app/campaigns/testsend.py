"""Test sends: to the author's own registered numbers only, from the campaign's verified sender."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audience import consent
from app.audience.service import normalize_phone
from app.audit.service import record
from app.campaigns import content, template
from app.campaigns.service import content_context
from app.config import Settings
from app.errors import Conflict, Invalid
from app.models import Campaign, Sender, Subscriber, TestNumber, TestSend, User
from app.providers.base import Provider
from app.providers.outcomes import SendResult, attempt


async def register_number(session: AsyncSession, user: User, phone: str, settings: Settings) -> TestNumber:
    phone = normalize_phone(phone, settings)
    await _refuse_audience_numbers(session, phone, field="phone")
    existing = await session.scalar(select(TestNumber).where(TestNumber.user_id == user.id, TestNumber.phone == phone))
    if existing is not None:
        return existing
    number = TestNumber(user_id=user.id, phone=phone)
    session.add(number)
    await session.flush()
    record(session, "test_number.added", actor=user, target_type="user", target_id=user.id, phone=phone)
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
               settings: Settings) -> dict:
    own = {number.phone for number in await numbers_of(session, actor)}
    targets = []
    for index, raw in enumerate(to):
        phone = normalize_phone(raw, settings, field=f"to.{index}")
        if phone not in own:
            raise Invalid(f"{phone} is not one of your registered test numbers; test sends go only to your own "
                          "numbers (POST /v1/me/test-numbers), never to subscribers", field=f"to.{index}",
                          code="not_a_test_number")
        await _refuse_audience_numbers(session, phone, field=f"to.{index}")
        targets.append(phone)
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
