"""Sending one claimed batch: re-check, wait for each sender slot, send, record — in batches.

Right before the provider call every message is re-checked (docs/design.md, invariants 1, 2, 3, 7): the
campaign is still sending, the sender is still verified, the subscriber is still sendable, and the
recipient is inside their sending window. Outcomes are written in one transaction per batch.

At most once (invariant 5): a message is sent only while its lease is held (a worker never calls the
provider after its lease deadline), and every outcome that may hide an accepted message (a 5xx, a
timeout) becomes ``unknown`` — reconciled with the provider (``reconcile.py``), never resent blindly.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ARRAY, Row, String, bindparam, func, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts import guard
from app.audience import consent, quiet_hours
from app.audience.consent import sendable_subscriber
from app.campaigns import content, segments, template, variants
from app.campaigns.service import content_context, list_ids_of
from app.company import service as company
from app.config import Settings
from app.db import Database
from app.db.base import utcnow
from app.dispatch import frequency, throttle
from app.dispatch.claim import Claimed
from app.links import rewrite
from app.links import service as links
from app.models import Campaign, Message, Sender, Subscriber
from app.ops import metrics
from app.providers.base import Provider
from app.providers.outcomes import Attempt, SendResult, attempt
from app.providers.registration import SENDER_NOT_REGISTERED_CODES
from app.senders import service as senders
from app.vocab.campaign import CampaignState
from app.vocab.message import MessageState, SkipReason

log = logging.getLogger(__name__)

#: Never call the provider later than this before the lease runs out: the provider call's whole
#: timeout budget (30 s, app/providers/twilio_http.DEFAULT_TIMEOUT) fits inside it.
LEASE_MARGIN = 35.0


@dataclass
class Outcome:
    claimed: Claimed
    values: dict
    opt_out: bool = False
    invalid: str | None = None


@dataclass
class BatchResult:
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    throttled_senders: set[str] = field(default_factory=set)
    campaigns: set[str] = field(default_factory=set)


#: Twilio's webhook connection overrides: retry a callback that was refused, timed out or answered
#: 5xx (up to 3 times) instead of losing that status. A fragment: never sent to us, never signed.
CALLBACK_RETRIES = "#rc=3&rp=all"


def status_callback_url(settings: Settings, message_id: int) -> str:
    """Carries the message id, so a callback finds its message even if the SID was never recorded
    (the worker died after the provider accepted it); the signature covers the URL but the fragment."""
    return f"{settings.public_base_url}/webhooks/twilio/status?m={message_id}{CALLBACK_RETRIES}"


def backoff(attempts: int) -> float:
    """Exponential back-off with full jitter, capped at five minutes."""
    return random.uniform(0, min(300.0, 2.0 * 2 ** min(attempts, 8)))


@dataclass
class _Context:
    campaign: Campaign
    sender: Sender | None
    full_body: str
    placeholders: list[template.Placeholder]  # each held against the values the approval bound


#: What the send needs of a subscriber: plain rows, not ORM entities (a batch loads hundreds).
_SUBSCRIBER = Subscriber.__table__
_RECIPIENT_COLUMNS = tuple(_SUBSCRIBER.c[name] for name in ("id", "first_name", "attributes", "time_zone",
                                                           "time_zones", "us_state"))


async def _load(session: AsyncSession, batch: list[Claimed], settings: Settings) -> tuple[dict, dict]:
    """Each campaign and its sender as they are now, and the batch's subscribers that are still
    sendable to that campaign's lists (one query per campaign); a subscriber missing from the answer
    has opted out, unsubscribed, been erased or marked invalid since the launch."""
    contexts: dict[str, _Context] = {}
    recipients: dict[tuple[str, str], Row] = {}
    dialect = session.get_bind().dialect.name
    for campaign_id in {c.campaign_id for c in batch}:
        campaign = await session.get(Campaign, campaign_id, populate_existing=True)
        sender = await session.get(Sender, campaign.sender_id, populate_existing=True)
        list_ids = await list_ids_of(session, campaign)
        ids = [c.subscriber_id for c in batch if c.campaign_id == campaign_id]
        rows = await session.execute(recipient_lookup(dialect, ids, list_ids))
        recipients.update(((campaign_id, row.id), row) for row in rows)
        full = content.full_body(campaign.body, content_context(settings, sender=sender))
        contexts[campaign_id] = _Context(campaign, sender, full, variants.placeholders_of(full))
    return contexts, recipients


def recipient_lookup(dialect: str, ids: list[str], list_ids: list[str]):
    """The batch's subscribers still sendable to ``list_ids``, driven by the batch's ids whatever the
    planner knows about the tables (docs/performance.md, "hot statements must not depend on
    statistics").

    On PostgreSQL each id of ``unnest($1)`` is looked up on its own, in a LATERAL subquery that the
    planner cannot flatten (its LIMIT) and so cannot turn around: a primary-key probe of
    ``subscriber``, an exact probe of ``subscription`` (every index on it that the lookup can use
    ends with ``subscriber_id``) and one of ``suppression``. Written as a join with
    ``subscriber.id = ANY($1)``, a planner without statistics (right after an import) took the list
    for one row and walked all of it for every batch (issue 20). The array is also one statement
    text whatever the batch's size, so it is prepared once per connection. SQLite runs the EXISTS
    form from the subscriber's primary key (tests/test_hot_plans.py checks both)."""
    sendable = sendable_subscriber(list_ids)
    if dialect == "postgresql":
        batch = func.unnest(bindparam("batch_ids", ids, type_=ARRAY(String))).table_valued("id").render_derived(
            name="batch")
        one = (select(*_RECIPIENT_COLUMNS).where(_SUBSCRIBER.c.id == batch.c.id, sendable)
               .limit(1).lateral("recipient"))
        return select(*one.c).select_from(batch).join(one, true())
    return select(*_RECIPIENT_COLUMNS).where(_SUBSCRIBER.c.id.in_(ids), sendable)


def recipient_window(settings: Settings, us_state: str | None) -> quiet_hours.Window | None:
    """The sending window of a recipient in ``us_state``: the company's, narrowed by the state's law."""
    default = quiet_hours.parse_window(settings.quiet_hours)
    if default is None:  # "off": tests and demos only
        return None
    try:
        return quiet_hours.effective_window(default, us_state)
    except ValueError:
        return default


def _decide(batch: list[Claimed], contexts: dict[str, _Context], recipients: dict, settings: Settings,
            now: datetime) -> tuple[list[Outcome], dict[str, list[tuple[Claimed, str]]], dict[int, list[dict]]]:
    """The re-checks right before sending: what is decided without the provider (skip, release,
    defer), per sender what goes out, with its body rendered, and per message the tracked links its
    body now carries (``FINELINE_LINK_DOMAIN``: each URL replaced by a fresh token)."""
    outcomes: list[Outcome] = []
    to_send: dict[str, list[tuple[Claimed, str]]] = defaultdict(list)
    tracked: dict[int, list[dict]] = {}
    expires = now + timedelta(days=settings.link_ttl_days)
    for claimed in batch:
        ctx = contexts[claimed.campaign_id]
        subscriber = recipients.get((claimed.campaign_id, claimed.subscriber_id))
        if ctx.campaign.state != CampaignState.SENDING:
            if ctx.campaign.state == CampaignState.CANCELLED:
                outcomes.append(_skip(claimed, "the campaign was cancelled"))
            else:
                outcomes.append(_release(claimed))  # paused: it waits for resume, never re-sent
            continue
        if ctx.sender is None or not ctx.sender.is_verified:
            outcomes.append(_release(claimed))  # the sender's suspension pauses the campaign
            continue
        if subscriber is None:
            outcomes.append(_skip(claimed, "no longer sendable: opted out, unsubscribed or erased"))
            continue
        window = recipient_window(settings, subscriber.us_state)
        zones = subscriber.time_zones or [subscriber.time_zone]
        if window is not None and not quiet_hours.is_sendable_at(now, zones, window):
            later = quiet_hours.next_window_start(now, zones, window)
            outcomes.append(Outcome(claimed, {"state": MessageState.QUEUED, "not_before": later, "lease_expires_at": None}))
            continue
        attributes = subscriber.attributes or {}
        unreviewed = variants.unreviewed(ctx.campaign.approved_values, ctx.placeholders, subscriber.first_name,
                                         attributes) if ctx.placeholders else None
        if unreviewed is not None:
            outcomes.append(_skip(claimed, f"its {{{unreviewed[:60]}}} value was not reviewed: added or changed "
                                           "after the approval (review the campaign again to send it)"))
            continue
        body = template.render(ctx.full_body, first_name=subscriber.first_name, attributes=attributes)
        if settings.link_domain:
            body, made = rewrite.tracked(body, settings.link_domain)
            if made:
                tracked[claimed.id] = [
                    {"token": token, "campaign_id": claimed.campaign_id, "message_id": claimed.id,
                     "subscriber_id": claimed.subscriber_id, "position": position, "destination": destination,
                     "created_at": now, "expires_at": expires} for position, token, destination in made]
        to_send[ctx.campaign.sender_id].append((claimed, body))
    return outcomes, to_send, tracked


async def _hold_frequency_cap(session: AsyncSession, settings: Settings, contexts: dict[str, _Context],
                              to_send: dict[str, list[tuple[Claimed, str]]], outcomes: list[Outcome],
                              now: datetime) -> None:
    """The company's frequency cap, held for the batch's marketing messages (``frequency.reserve``):
    those whose number has no room left are skipped with the reason ``frequency_cap``."""
    cap = await company.frequency_cap(session, settings)
    if cap is None:
        return
    marketing = [claimed for items in to_send.values() for claimed, _ in items
                 if not contexts[claimed.campaign_id].campaign.transactional]
    over = await frequency.reserve(session, marketing, cap, now)
    if not over:
        return
    for items in to_send.values():
        outcomes.extend(_skip(claimed, SkipReason.FREQUENCY_CAP) for claimed, _ in items if claimed.id in over)
        items[:] = [(claimed, body) for claimed, body in items if claimed.id not in over]


async def process_batch(db: Database, provider: Provider, settings: Settings, batch: list[Claimed], *,
                        now: datetime | None = None, semaphore: asyncio.Semaphore | None = None,
                        done: Callable[[Claimed], None] | None = None) -> BatchResult:
    """Re-check, send and record one claimed batch. ``now`` is injectable for tests (a fake clock).

    ``done`` is called once per message as soon as it no longer needs the provider (answered, or
    decided without a call) — before the batch is recorded, so the caller can claim more meanwhile."""
    now = now or utcnow()
    result = BatchResult()
    deadline = time.monotonic() + settings.lease_seconds - LEASE_MARGIN
    slots: dict[str, tuple[float, float]] = {}
    async with db.unit_of_work() as session:  # re-check, then reserve the senders' slots: one transaction
        contexts, recipients = await _load(session, batch, settings)
        outcomes, to_send, tracked = _decide(batch, contexts, recipients, settings, now)
        await _hold_frequency_cap(session, settings, contexts, to_send, outcomes, now)
        senders = {ctx.sender.id: ctx.sender for ctx in contexts.values() if ctx.sender is not None}
        for sender_id, items in to_send.items():
            if not items:
                continue
            cap = senders[sender_id].daily_cap
            if cap is not None:  # the registration's daily cap: what is over waits for the next carrier day
                granted = await throttle.take_daily(session, sender_id, cap, len(items), now)
                if granted < len(items):
                    next_day = throttle.carrier_day(now)[1]
                    outcomes.extend(Outcome(claimed, {"state": MessageState.QUEUED, "not_before": next_day,
                                                      "lease_expires_at": None}) for claimed, _ in items[granted:])
                    del items[granted:]
                if not items:
                    continue
            slots[sender_id] = await throttle.reserve(session, sender_id, senders[sender_id].mps, len(items))
        # The links of what goes out, committed before any provider call: a recipient (or their phone's
        # previewer) can open one the moment it arrives. A message that then does not leave keeps
        # links nobody was given; a retry makes new ones.
        await links.add_links(session, [row for items in to_send.values() for claimed, _ in items
                                        for row in tracked.get(claimed.id, ())])
    if done is not None:
        for outcome in outcomes:
            done(outcome.claimed)

    semaphore = semaphore or asyncio.Semaphore(settings.max_in_flight)
    blocked: set[str] = set()  # senders the carriers refused during this batch: nothing more leaves from them
    tasks = []
    sent_by: Counter[str] = Counter()
    for sender_id, items in to_send.items():
        if not items:
            continue
        sender = senders[sender_id]
        first, offset = slots[sender_id]
        step = throttle.interval(sender.mps)
        for index, (claimed, body) in enumerate(items):
            slot_local = first + index * step - offset
            tasks.append(_send_one(provider, settings, sender, claimed, body, slot_local, deadline, semaphore, now,
                                   done, blocked))
    for outcome in await asyncio.gather(*tasks):
        outcomes.append(outcome)
        if outcome.values.get("state") == MessageState.SENT:
            sent_by[outcome.claimed.sender_id] += 1
        if outcome.values.get("_throttled"):
            result.throttled_senders.add(contexts[outcome.claimed.campaign_id].campaign.sender_id)
    for sender_id, count in sent_by.items():
        metrics.SENDER_SENDS.labels(sender_id).inc(count)
    await _record(db, outcomes, result, now, settings)
    for sender_id in result.throttled_senders:
        async with db.unit_of_work() as session:
            await throttle.penalise(session, sender_id)
    return result


async def _send_one(provider: Provider, settings: Settings, sender: Sender, claimed: Claimed, body: str,
                    slot_local: float, deadline: float, semaphore: asyncio.Semaphore, now: datetime,
                    done: Callable[[Claimed], None] | None = None, blocked: set[str] | None = None) -> Outcome:
    """``now`` is the batch's clock (a fake one in tests): back-off and grace are measured from it."""
    try:
        return await _attempt(provider, settings, sender, claimed, body, slot_local, deadline, semaphore, now,
                              set() if blocked is None else blocked)
    finally:
        if done is not None:
            done(claimed)


async def _attempt(provider: Provider, settings: Settings, sender: Sender, claimed: Claimed, body: str,
                   slot_local: float, deadline: float, semaphore: asyncio.Semaphore, now: datetime,
                   blocked: set[str]) -> Outcome:
    wait = slot_local - time.time()
    if wait > 0:
        await asyncio.sleep(wait)
    async with semaphore:
        if sender.id in blocked:
            return _release(claimed)  # the carriers refused this sender moments ago: it is being suspended
        if time.time() - slot_local > throttle.LATE:
            # Too late for our slot (a slow loop, a full pipe): sending now could crowd a later slot and
            # break the sender's MPS. It goes back to the queue, never out in a burst.
            return _release(claimed)
        if time.monotonic() > deadline:
            # Too late to send under our lease; the sweep reconciles and requeues it.
            return Outcome(claimed, {"_untouched": True})
        started = time.perf_counter()
        try:
            answer = await attempt(provider, sender, to=claimed.to, body=body,
                                   status_callback=status_callback_url(settings, claimed.id))
        finally:
            metrics.PROVIDER_LATENCY.observe(time.perf_counter() - started)
    if answer.result == SendResult.FAILED and answer.error_code in SENDER_NOT_REGISTERED_CODES:
        blocked.add(sender.id)
    return _outcome_of(claimed, answer, settings, now, body)


def _outcome_of(claimed: Claimed, answer: Attempt, settings: Settings, now: datetime, body: str) -> Outcome:
    """What the provider's answer (read by the shared ``classify``) does to a campaign message; a sent
    one keeps the segments its body is billed as (the report's cost)."""
    match answer.result:
        case SendResult.SENT:
            return Outcome(claimed, {"state": MessageState.SENT, "provider_sid": answer.sent.sid, "sent_at": utcnow(),
                                     "segments": segments.billed_segments(body)})
        case SendResult.SENDER_REFUSED:
            return _release(claimed)
        case SendResult.OPTED_OUT:
            return Outcome(claimed, {"state": MessageState.FAILED, "error_code": answer.error_code or 21610}, opt_out=True)
        case SendResult.INVALID_RECIPIENT:
            return Outcome(claimed, {"state": MessageState.FAILED, "error_code": answer.error_code},
                           invalid=str(answer.error)[:200])
        case SendResult.UNKNOWN:
            # It may have been accepted: reconcile after a grace period, never resend blindly.
            grace = timedelta(seconds=settings.unknown_grace_seconds)
            return Outcome(claimed, {"state": MessageState.UNKNOWN, "lease_expires_at": now + grace})
        case SendResult.RETRY:  # 429 / 20429, or never connected: nothing was accepted
            later = now + timedelta(seconds=backoff(claimed.attempts))
            return Outcome(claimed, {"state": MessageState.QUEUED, "not_before": later, "lease_expires_at": None,
                                     "attempts": claimed.attempts + 1, "_throttled": answer.throttled})
    return Outcome(claimed, {"state": MessageState.FAILED, "error_code": answer.error_code})


def _skip(claimed: Claimed, reason: str) -> Outcome:
    return Outcome(claimed, {"state": MessageState.SKIPPED, "skip_reason": reason, "lease_expires_at": None})


def _release(claimed: Claimed) -> Outcome:
    return Outcome(claimed, {"state": MessageState.QUEUED, "lease_expires_at": None, "claimed_at": None})


@functools.lru_cache(maxsize=64)
def _completion(keys: tuple[str, ...]):
    """The fenced UPDATE for one shape of outcome, built once per shape."""
    table = Message.__table__
    return (
        update(table)
        .where(table.c.id == bindparam("b_id"), table.c.claimed_at == bindparam("b_claimed_at"),
               table.c.state == MessageState.SENDING)
        .values(**{key: bindparam(f"v_{key}") for key in keys}, updated_at=bindparam("v_updated_at"))
    )


async def _record(db: Database, outcomes: list[Outcome], result: BatchResult, now: datetime,
                  settings: Settings) -> None:
    """One transaction for the batch, one executemany per shape of outcome. Each row is fenced by
    its claim (id, claimed_at) and still 'sending': a status callback that arrived first (it
    carries ?m=<id>) has already moved the message on, and states only ever move forward."""
    groups: dict[tuple[str, ...], list[dict]] = defaultdict(list)
    stamp = utcnow()
    follow_ups: list[Outcome] = []
    recorded: Counter[str] = Counter()
    for outcome in outcomes:
        values = {k: v for k, v in outcome.values.items() if not k.startswith("_")}
        if values.get("state") in (MessageState.QUEUED, MessageState.SKIPPED):
            values["contacted_at"] = None  # not sent: its place under the frequency cap is given back
        result.campaigns.add(outcome.claimed.campaign_id)
        if outcome.values.get("_untouched") or not values:
            result.counts["untouched"] += 1
            continue
        row = {"b_id": outcome.claimed.id, "b_claimed_at": outcome.claimed.claimed_at, "v_updated_at": stamp}
        row.update({f"v_{key}": value for key, value in values.items()})
        groups[tuple(sorted(values))].append(row)
        state = values.get("state", MessageState.SENDING)
        key = "deferred" if state == MessageState.QUEUED and "not_before" in values else state
        result.counts[key] += 1
        recorded[key] += 1
        if outcome.opt_out or outcome.invalid or values.get("error_code") in SENDER_NOT_REGISTERED_CODES:
            follow_ups.append(outcome)
    for key, count in recorded.items():
        metrics.MESSAGES.labels(key).inc(count)
    async with db.unit_of_work() as session:
        for keys, rows in groups.items():
            await session.execute(_completion(keys), rows)
        for outcome in follow_ups:
            if outcome.opt_out and await consent.opt_out(
                    session, outcome.claimed.to, channel="provider",
                    reason="the provider reports the recipient opted out (Twilio 21610)"):
                await guard.record_opt_out(session, outcome.claimed.to, settings=settings)
            if outcome.invalid:
                await session.execute(update(Subscriber).where(Subscriber.id == outcome.claimed.subscriber_id)
                                      .values(invalid_reason=outcome.invalid))
            if outcome.values.get("error_code") in SENDER_NOT_REGISTERED_CODES:
                await senders.suspend_for_carrier_error(session, outcome.claimed.sender_id,
                                                        outcome.values["error_code"])
