"""The campaign report: what people did with a campaign, counted from its messages.

A read model. Every figure is a count over the campaign's message rows (and what points at them:
the opt-out attributed to a message, the inbox texts that answered it), grouped in the database,
so the memory a report takes grows with the number of distinct states, error codes, skip reasons
and active minutes, never with the audience. Takes the session first, changes nothing.

- Counts: ``campaigns.service.counts_of`` (the same definitions as the campaign's ``counts``), over
  the messages, with opt-outs counted as the messages an opt-out was attributed to.
- The opt-out rate and its baseline: ``campaigns.rates`` (one definition) and
  ``alerts.policy.company_baseline`` over the company's other completed campaigns.
- Replies: an inbound text that is not a keyword (it went to the company inbox), from the recipient to
  the campaign's sender, within ``attribution_hours`` after the message and before any later
  campaign message to that number — attributed as opt-outs are.
- Clicks: ``human_clicks`` and ``clicked_subscribers``, over the tracked links' human clicks.
- Cost: the billed segments recorded when each message was sent, times ``price_per_segment``.
- Canary: ``Message.canary_rest`` says which messages were held behind the first slice.
- Timeline: per-minute buckets of sent, delivered, failed and opted-out messages.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Integer,
    and_,
    cast,
    extract,
    func,
    literal,
    literal_column,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.alerts import policy
from app.audience.keywords import Keyword
from app.campaigns import content, segments, template
from app.campaigns.audience import effective_rollout
from app.campaigns.service import content_context, counts_of
from app.config import Settings
from app.db import Database
from app.db.base import utcnow
from app.models import Campaign, InboundMessage, LinkClick, Message, Sender
from app.vocab.link import ClickKind
from app.vocab.message import MessageState, SkipReason

#: The states in which a message left for the carriers (``counts_of``'s ``sent``): billed.
SENT_STATES = (MessageState.SENT, MessageState.DELIVERED, MessageState.UNDELIVERED)
FAILED_STATES = (MessageState.FAILED, MessageState.UNDELIVERED)
#: Messages per page of the per-recipient export.
PAGE = 1000


# --- portable SQL pieces ---------------------------------------------------------------------------

def _epoch_seconds(dialect: str, column):
    """Whole seconds since the epoch of a UTC timestamp column, on PostgreSQL and SQLite alike."""
    if dialect == "postgresql":
        return cast(func.floor(extract("epoch", column)), BigInteger)
    return cast(func.strftime("%s", column), Integer)  # SQLite keeps naive UTC text


#: ``OFFSET 0`` keeps each EXISTS a subplan probed per message through its index (``ix_inbound_message_from_phone``,
#: ``ix_message_to_sent``), as ``app.audience.consent`` does: flattened into joins, a planner without
#: statistics hashed the whole message table once per reply found (minutes for 20,000 messages).
_PROBE = literal_column("0")


def _minute(dialect: str, column):
    return _epoch_seconds(dialect, column) // 60


# --- the pieces of the report ----------------------------------------------------------------------

def replied_condition(dialect: str, settings: Settings, sender: Sender | None, message=Message):
    """True for a sent message that a customer answered (see the module's docstring)."""
    if sender is None:
        return literal(False)
    inbound, later = InboundMessage, aliased(Message)
    window = int(settings.attribution_hours * 3600)
    answered_later = select(later.id).where(later.to == message.to, later.sent_at > message.sent_at,
                                            later.sent_at <= inbound.received_at).correlate(message, inbound).offset(_PROBE)
    return select(inbound.id).where(
        inbound.from_phone == message.to,
        inbound.received_at >= message.sent_at,
        inbound.classification == Keyword.REPLY.value,
        or_(inbound.to == sender.address, inbound.params["MessagingServiceSid"].as_string() == sender.address),
        _epoch_seconds(dialect, inbound.received_at) < _epoch_seconds(dialect, message.sent_at) + window,
        ~answered_later.exists(),
    ).correlate(message).offset(_PROBE).exists()


# Clicks come from these two functions only: the tracked links' ``link_click`` rows of kind human
# (a person, not a link previewer), unique per recipient; one recipient is one message of the campaign.
def _human_clicks_of(campaign_id: str):
    return (LinkClick.campaign_id == campaign_id, LinkClick.kind == ClickKind.HUMAN.value)


async def human_clicks(session: AsyncSession, campaign_id: str) -> int:
    """Unique recipients of the campaign who clicked one of its tracked links (bots excluded)."""
    return int(await session.scalar(select(func.count(func.distinct(LinkClick.subscriber_id)))
                                    .where(*_human_clicks_of(campaign_id))) or 0)


async def clicked_subscribers(session: AsyncSession, campaign_id: str, subscriber_ids: list[str]) -> set[str]:
    """Which of ``subscriber_ids`` clicked a tracked link of the campaign (exact probes of the click
    index by recipient)."""
    if not subscriber_ids:
        return set()
    return set((await session.scalars(select(LinkClick.subscriber_id).distinct().where(
        *_human_clicks_of(campaign_id), LinkClick.subscriber_id.in_(subscriber_ids)))).all())


async def _sender(session: AsyncSession, campaign: Campaign) -> Sender | None:
    return await session.get(Sender, campaign.sender_id)


def _fallback_segments(campaign: Campaign, sender: Sender | None, settings: Settings) -> int:
    """Segments of the body as sent, every placeholder at its fallback: the estimate for a sent
    message whose segments were not recorded (settled by the reconciler, or sent before they were)."""
    full = content.full_body(campaign.body, content_context(settings, sender=sender))
    return segments.billed_segments(template.render(full, first_name=None, attributes={}))


async def campaign_report(session: AsyncSession, campaign: Campaign, settings: Settings,
                          *, now: datetime | None = None) -> dict:
    dialect = session.get_bind().dialect.name
    sender = await _sender(session, campaign)
    replied = replied_condition(dialect, settings, sender)
    groups = (await session.execute(
        select(Message.canary_rest, Message.state, Message.error_code, Message.skip_reason,
               func.count(), func.count(Message.opted_out_at), func.count(Message.segments),
               func.coalesce(func.sum(Message.segments), 0))
        .where(Message.campaign_id == campaign.id)
        .group_by(Message.canary_rest, Message.state, Message.error_code, Message.skip_reason))).all()

    by_state: Counter[str] = Counter()
    by_part: dict[bool, Counter[str]] = defaultdict(Counter)
    opt_outs_by_part: Counter[bool] = Counter()
    capped_by_part: Counter[bool] = Counter()
    errors: Counter[int | None] = Counter()
    reasons: Counter[str] = Counter()
    recorded = unrecorded = recorded_segments = 0
    for rest, state, error_code, reason, count, opted_out, with_segments, segment_sum in groups:
        by_state[state] += count
        by_part[bool(rest)][state] += count
        opt_outs_by_part[bool(rest)] += opted_out
        if state in FAILED_STATES:
            errors[error_code] += count
        if state == MessageState.SKIPPED:
            reasons[reason or "unknown"] += count
            if reason == SkipReason.FREQUENCY_CAP:
                capped_by_part[bool(rest)] += count
        if state in SENT_STATES:
            recorded += with_segments
            recorded_segments += int(segment_sum)
            unrecorded += count - with_segments
    opt_outs = sum(opt_outs_by_part.values())
    counts = counts_of(by_state, opt_outs, sum(capped_by_part.values()))

    baseline = await policy.company_baseline(session, settings, excluding=campaign.id)
    rate = counts["opt_out_rate"]
    reply_count = int(await session.scalar(select(func.count()).select_from(Message).where(
        Message.campaign_id == campaign.id, Message.state.in_(SENT_STATES), replied)) or 0)
    clicks = await human_clicks(session, campaign.id)

    estimate = _fallback_segments(campaign, sender, settings) if unrecorded else 0
    segments_total = recorded_segments + unrecorded * estimate
    rollout = effective_rollout(campaign, settings)
    return {
        "campaign_id": campaign.id,
        "name": campaign.name,
        "state": campaign.state,
        "launched_at": campaign.launched_at,
        "completed_at": campaign.completed_at,
        "generated_at": now or utcnow(),
        **counts,
        "unknown": by_state.get(MessageState.UNKNOWN, 0),
        "failed_by_error_code": [{"error_code": code, "count": n}
                                 for code, n in sorted(errors.items(), key=lambda item: (-item[1], item[0] or 0))],
        "skipped_by_reason": [{"reason": reason, "count": n}
                              for reason, n in sorted(reasons.items(), key=lambda item: (-item[1], item[0]))],
        "opt_out_baseline": {
            "baseline_rate": baseline,
            "rate_bar": policy.spike_policy(settings).rate_bar(baseline),
            "ratio": rate / baseline if baseline else None,
        },
        "replies": {
            "replied": reply_count,
            "reply_rate": reply_count / counts["sent"] if counts["sent"] else 0.0,
            "window_hours": settings.attribution_hours,
        },
        "clicks": {
            "available": True,  # tracked links: a campaign without any simply has none
            "unique_human": clicks,
            "click_rate": clicks / counts["delivered"] if counts["delivered"] else 0.0,
        },
        "cost": {
            "segments_sent": segments_total,
            "segments_recorded": recorded_segments,
            "messages_estimated": unrecorded,
            "estimated_segments_per_message": estimate if unrecorded else None,
            "price_per_segment": settings.price_per_segment,
            "currency": settings.price_currency,
            "estimated_cost": round(segments_total * settings.price_per_segment, 6),
        },
        "canary": None if rollout is None else {
            "first_slice_percent": rollout.get("first_slice_percent"),
            "released_at": campaign.canary_released_at,
            "first_slice": counts_of(by_part[False], opt_outs_by_part[False], capped_by_part[False]),
            "rest": counts_of(by_part[True], opt_outs_by_part[True], capped_by_part[True]),
        },
        "timeline": await timeline(session, campaign.id),
    }


async def timeline(session: AsyncSession, campaign_id: str) -> dict:
    """Per-minute buckets of the campaign's messages: sent (by sent_at, in a sent state), delivered
    (delivered_at), failed (when the failure was recorded) and opted out (the attribution's time).
    One grouped query; the answer has a row per active minute and kind, whatever the audience."""
    dialect = session.get_bind().dialect.name
    mine = Message.campaign_id == campaign_id

    def part(kind: str, column, *conditions):
        return select(_minute(dialect, column).label("minute"), literal(kind).label("kind")).where(
            mine, column.is_not(None), *conditions)

    events = union_all(
        part("sent", Message.sent_at, Message.state.in_(SENT_STATES)),
        part("delivered", Message.delivered_at, Message.state == MessageState.DELIVERED),
        part("failed", Message.updated_at, Message.state.in_(FAILED_STATES)),
        part("opt_outs", Message.opted_out_at),
    ).subquery()
    rows = (await session.execute(
        select(events.c.minute, events.c.kind, func.count()).group_by(events.c.minute, events.c.kind)
        .order_by(events.c.minute))).all()
    points: dict[int, dict] = {}
    for minute, kind, count in rows:
        point = points.setdefault(int(minute), {"minute": datetime.fromtimestamp(int(minute) * 60, UTC), "sent": 0,
                                                "delivered": 0, "failed": 0, "opt_outs": 0})
        point[kind] = count
    return {"bucket_seconds": 60, "points": [points[key] for key in sorted(points)]}


# --- per recipient ---------------------------------------------------------------------------------

async def outcome_pages(db: Database, campaign_id: str, sender_id: str, settings: Settings, *,
                        page: int = PAGE) -> AsyncIterator[tuple[list, set[str]]]:
    """The campaign's messages with whether each was answered, in send order, one short session per
    page (a long export holds no transaction open); with each page the recipients of it who clicked
    a tracked link.

    Pages are ranges of ``page`` message ids, walked on the primary key from the campaign's first id
    to its last (one launch materialises a campaign as one run of ids). The campaign is matched as
    ``campaign_id || ''``, which no index serves: with ``campaign_id = ?`` a planner (one without
    statistics, right after the launch) read every message of the campaign through
    ``ix_message_campaign_state`` and sorted them for each page — quadratic in the audience."""
    async with db.session() as session:
        first, last = (await session.execute(select(func.min(Message.id), func.max(Message.id))
                                             .where(Message.campaign_id == campaign_id))).one()
    if first is None:
        return
    after = first - 1
    while after < last:
        upto = min(after + page, last)
        async with db.session() as session:
            dialect = session.get_bind().dialect.name
            sender = await session.get(Sender, sender_id)
            replied = and_(Message.sent_at.is_not(None), replied_condition(dialect, settings, sender))
            rows = (await session.execute(
                select(Message.id, Message.subscriber_id, Message.to, Message.state, Message.skip_reason,
                       Message.error_code, Message.sent_at, Message.delivered_at, Message.opted_out_at,
                       Message.segments, Message.canary_rest, replied.label("replied"))
                .where(Message.id > after, Message.id <= upto, Message.campaign_id.concat("") == campaign_id)
                .order_by(Message.id))).all()
            clicked = await clicked_subscribers(session, campaign_id, [row.subscriber_id for row in rows])
        if rows:
            yield rows, clicked
        after = upto
