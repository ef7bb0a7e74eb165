"""Campaigns: write, check, submit, review, launch, pause, resume, cancel.

Every state change goes through ``move`` (the lifecycle table, audited). Approval binds to
``content_hash`` — body as it will be sent (with any appended opt-out text), sender, lists, audience
filter, rollout and schedule — so any edit after approval voids it and returns the campaign to draft.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import Text, case, cast, delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.audience import quiet_hours
from app.audience.consent import sendable_condition
from app.audit.service import record
from app.campaigns import content, lifecycle, rates, template, variants
from app.campaigns.audience import effective_rollout, hold_rest, materialise
from app.company import service as company
from app.config import Settings
from app.db.base import utcnow
from app.errors import Conflict, Forbidden, Invalid, NotFound
from app.links import rewrite
from app.models import (
    Campaign,
    CampaignList,
    Message,
    Review,
    Sender,
    Subscriber,
    SubscriberList,
    Subscription,
    User,
)
from app.pagination import keyset
from app.targeting import service as targeting
from app.vocab.campaign import CampaignState
from app.vocab.message import MessageState, SkipReason
from app.vocab.roles import Role


async def get_campaign(session: AsyncSession, campaign_id: str, *, lock: bool = False) -> Campaign:
    campaign = await session.get(Campaign, campaign_id, with_for_update=lock or None)
    if campaign is None:
        raise NotFound(f"no campaign with id {campaign_id}")
    return campaign


async def list_ids_of(session: AsyncSession, campaign: Campaign) -> list[str]:
    rows = await session.scalars(select(CampaignList.list_id).where(CampaignList.campaign_id == campaign.id))
    return sorted(rows.all())


async def list_campaigns(session: AsyncSession, *, limit: int, cursor: str | None, state: str | None) -> list[Campaign]:
    return await keyset(session, Campaign, limit=limit, cursor=cursor, where=[Campaign.state == state] if state else ())


async def active_for_sender(session: AsyncSession, sender_id: str) -> list[Campaign]:
    """Campaigns that would send from ``sender_id`` if nothing stopped them."""
    return list((await session.scalars(
        select(Campaign).where(Campaign.sender_id == sender_id, Campaign.state.in_((CampaignState.SCHEDULED, CampaignState.SENDING)))
        .order_by(Campaign.id))).all())


def counts_of(by_state: Mapping[str, int], opt_outs: int, frequency_capped: int = 0) -> dict[str, float | int]:
    """The counts the API shows, from a number of messages per state: audience, queued, sent,
    delivered, failed, skipped (of which frequency_capped: by the company's frequency cap), opt_outs
    and the rate (the campaign's, and the report's slices)."""
    delivered = by_state.get(MessageState.DELIVERED, 0)
    counts: dict[str, float | int] = {
        "audience": sum(by_state.values()),
        "queued": by_state.get(MessageState.QUEUED, 0) + by_state.get(MessageState.SENDING, 0),
        "sent": by_state.get(MessageState.SENT, 0) + delivered + by_state.get(MessageState.UNDELIVERED, 0),
        "delivered": delivered,
        "failed": by_state.get(MessageState.FAILED, 0) + by_state.get(MessageState.UNDELIVERED, 0),
        "skipped": by_state.get(MessageState.SKIPPED, 0),
        "frequency_capped": frequency_capped,
        "opt_outs": opt_outs,
    }
    counts["opt_out_rate"] = rates.opt_out_rate(opt_outs, delivered)  # as the spike guard judges it
    return counts


async def campaign_counts(session: AsyncSession, campaign_id: str) -> dict[str, float | int]:
    """The counts the API shows: audience, queued, sent, delivered, failed, skipped (of which
    frequency_capped: by the company's frequency cap), opt_outs, rate."""
    by_state = dict((await session.execute(
        select(Message.state, func.count()).where(Message.campaign_id == campaign_id).group_by(Message.state)
    )).all())
    opt_outs = int(await session.scalar(select(Campaign.opt_out_count).where(Campaign.id == campaign_id)) or 0)
    capped = int(await session.scalar(select(func.count()).select_from(Message).where(
        Message.campaign_id == campaign_id, Message.state == MessageState.SKIPPED,
        Message.skip_reason == SkipReason.FREQUENCY_CAP)) or 0) if by_state.get(MessageState.SKIPPED) else 0
    return counts_of(by_state, opt_outs, capped)


async def list_reviews(session: AsyncSession, campaign: Campaign) -> list[Review]:
    return list((await session.scalars(
        select(Review).where(Review.campaign_id == campaign.id).order_by(Review.id))).all())


async def list_messages(session: AsyncSession, campaign: Campaign, *, limit: int, after: int | None,
                        state: str | None) -> list[Message]:
    """The campaign's messages in send order, a keyset page after message id ``after``.

    A page walks ``ix_message_campaign_id`` in id order and stops at ``limit`` (for one state, skipping
    the campaign's other messages). On PostgreSQL the walk is pinned for this one statement: a planner
    without statistics on ``message`` (right after a launch) guesses a few hundred rows per campaign
    and prefers a bitmap scan of the whole campaign and a sort, which reads every message of a big
    campaign per page (tests/test_hot_plans.py)."""
    query = select(Message).where(Message.campaign_id == campaign.id).order_by(Message.id).limit(limit)
    if after is not None:
        query = query.where(Message.id > after)
    if state:
        query = query.where(Message.state == state)
    if (await session.connection()).dialect.name != "postgresql":
        return list((await session.scalars(query)).all())
    await session.execute(text("SET LOCAL enable_bitmapscan = off"))
    await session.execute(text("SET LOCAL enable_sort = off"))
    page = list((await session.scalars(query)).all())
    # back for the rest of the transaction (a failed statement rolls it back, and the SET LOCALs with it)
    await session.execute(text("RESET enable_bitmapscan"))
    await session.execute(text("RESET enable_sort"))
    return page


def sample_text(full_body: str, settings: Settings, first_name: str | None, attributes: dict | None) -> str:
    """One recipient's copy as the review shows it: rendered, each URL as the tracked link it is sent as."""
    text = template.render(full_body, first_name=first_name, attributes=attributes or {})
    return rewrite.as_counted(text, settings.link_domain)


async def sample_recipients(session: AsyncSession, list_ids: list[str], *, limit: int,
                            filter_json: dict | None = None) -> list[tuple[str | None, dict | None]]:
    """(first name, attributes) of the first ``limit`` sendable subscribers who pass the campaign's
    filter, to render samples with."""
    if not list_ids:
        return []
    return [tuple(row) for row in (await session.execute(
        select(Subscriber.first_name, Subscriber.attributes).select_from(Subscription)
        .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
        .where(targeting.condition(session, list_ids, filter_json)).order_by(Subscriber.id).limit(limit)
    )).all()]


def move(session: AsyncSession, campaign: Campaign, target: str, *, actor: User | None, reason: str) -> None:
    """The one gate for a campaign's state."""
    try:
        lifecycle.check_move(campaign.state, target)
    except lifecycle.IllegalTransition as exc:
        raise Conflict(str(exc), code="illegal_transition") from exc
    previous, campaign.state, campaign.state_reason = campaign.state, target, reason
    campaign.updated_at = utcnow()
    if target == CampaignState.DRAFT:
        campaign.approved_hash = campaign.approved_by_id = campaign.approved_at = campaign.approved_values = None
    record(session, "campaign.state", actor=actor, target_type="campaign", target_id=campaign.id,
           previous=previous, state=target, reason=reason)


def content_context(settings: Settings, *, sender: Sender | None, company_numbers: frozenset[str] = frozenset(),
                    sendable_counts: dict[str, int] | None = None) -> content.ContentContext:
    contacts = [c.strip() for c in settings.company_contacts.split(",") if c.strip()]
    return content.ContentContext(
        brand_name=settings.brand_name,
        require_brand=settings.require_brand,
        append_opt_out=settings.append_opt_out,
        opt_out_text=settings.opt_out_text,
        shaft_blocks=settings.shaft_blocks,
        company_numbers=company_numbers | frozenset(c for c in contacts if c.startswith("+")),
        company_emails=frozenset(c.lower() for c in contacts if "@" in c),
        company_domains=frozenset(c.lower() for c in contacts if "@" not in c and not c.startswith("+")),
        sender_verified=sender is not None and sender.is_verified,
        sendable_counts=sendable_counts or {},
        default_region=settings.default_region,
        link_domain=settings.link_domain,
    )


def content_hash(*, full_body: str, sender_id: str, list_ids: list[str], rollout: dict | None,
                 scheduled_at: datetime | None, values: dict | None = None, transactional: bool = False,
                 audience_filter: dict | None = None) -> str:
    """``values``: what each placeholder was reviewed as (``variants.reviewed``); a body without
    placeholders binds none, and hashes as it always did. ``transactional`` (exempt from the
    frequency cap) is bound when set, so a marketing campaign hashes as it always did.
    ``audience_filter``: the normalised filter (app/targeting); a campaign without one hashes as it
    always did."""
    parts = {"body": full_body, "sender_id": sender_id, "list_ids": sorted(list_ids),
             "rollout": rollout, "scheduled_at": scheduled_at.isoformat() if scheduled_at else None}
    if values:
        parts["values"] = values
    if transactional:
        parts["transactional"] = True
    if audience_filter:
        parts["filter"] = audience_filter
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def company_numbers(session: AsyncSession) -> frozenset[str]:
    """Every verified sender's address and pool: numbers a text may mention as the company's own."""
    numbers: set[str] = set()
    for address, pool in (await session.execute(select(Sender.address, Sender.pool).where(Sender.is_verified))):
        numbers.add(address)
        numbers.update(pool or [])
    return frozenset(numbers)


async def sendable_counts(session: AsyncSession, list_ids: list[str]) -> dict[str, int]:
    names = dict((await session.execute(select(SubscriberList.id, SubscriberList.name)
                                        .where(SubscriberList.id.in_(list_ids)))).all())
    counts = {name: 0 for name in names.values()}
    rows = await session.execute(
        select(Subscription.list_id, func.count()).select_from(Subscription).join(Subscriber, Subscriber.id == Subscription.subscriber_id)
        .where(sendable_condition(list_ids)).group_by(Subscription.list_id)
    )
    for list_id, count in rows:
        counts[names[list_id]] = count
    return counts


async def audience_size(session: AsyncSession, list_ids: list[str], filter_json: dict | None = None) -> int:
    """Distinct sendable subscribers across the lists who pass the filter (a person on two lists
    counts once)."""
    return await targeting.audience_size(session, list_ids, filter_json)


async def evaluate(session: AsyncSession, campaign: Campaign, settings: Settings, *,
                   approved_values: bool = False) -> dict:
    """Findings, the body as it will be sent, the texts its placeholders really make (each checked
    like the body), and the hash an approval binds to.

    ``approved_values``: hash with the values the approval bound instead of reading the audience's
    (launch and resume: recipients' values are held against the approval one by one as they are sent).
    """
    list_ids = await list_ids_of(session, campaign)
    sender = await session.get(Sender, campaign.sender_id)
    ctx = content_context(settings, sender=sender, company_numbers=await company_numbers(session),
                          sendable_counts=await sendable_counts(session, list_ids))
    findings = content.check_content(campaign.body, ctx)
    if campaign.transactional:
        findings.append(content.Finding(
            "transactional", "warn", "marked transactional: exempt from the company's frequency cap. Approve only "
            "if this is not marketing (an order, delivery or account update the recipient expects)", None))
    if campaign.scheduled_at is not None:
        findings += await _quiet_hours_findings(session, campaign, list_ids, settings)
    full = content.full_body(campaign.body, ctx)
    tallies: dict[str, variants.Tally] = {}
    rendered: list[variants.Variant] = []
    if approved_values:
        bound = campaign.approved_values
    else:
        tallies = await _audience_values(session, full, list_ids, campaign.audience_filter)
        bound = variants.reviewed(tallies)
        rendered = variants.variants(full, tallies) if tallies else []
        findings += variants.findings(full, tallies, rendered, findings, ctx)
    return {
        "findings": findings,
        "blocking": [f for f in findings if f.severity == "block"],
        "full_body": full,
        "sent_body": rewrite.as_counted(full, settings.link_domain),
        "links": [found.destination for found in rewrite.find_urls(full, settings.link_domain)]
        if settings.link_domain else [],
        "list_ids": list_ids,
        "sender": sender,
        "tallies": tallies,
        "variants": rendered,
        "values": bound,
        "hash": content_hash(full_body=full, sender_id=campaign.sender_id, list_ids=list_ids,
                             rollout=campaign.rollout, scheduled_at=campaign.scheduled_at, values=bound,
                             transactional=campaign.transactional,
                             audience_filter=campaign.audience_filter),
    }


async def _audience_values(session: AsyncSession, full_body: str, list_ids: list[str],
                          filter_json: dict | None = None) -> dict[str, variants.Tally]:
    """The values each placeholder of ``full_body`` takes across the sendable audience after the
    filter (each person once), counted by the database: one grouped query per placeholder, so the service reads each
    distinct value once (TRACKED_VALUES at most) and never a subscriber's whole attributes."""
    tallies = variants.tally(full_body, [])
    if not tallies or not list_ids:
        return tallies
    on_a_list = select(Subscription.id).where(targeting.condition(session, list_ids, filter_json)).exists()
    for placeholder in variants.placeholders_of(full_body):
        column = (Subscriber.first_name if placeholder.attribute is None
                  else _attribute_json(session, placeholder.attribute))
        # Past TRACKED_VALUES distinct values a placeholder is reviewed by rule whatever the rest hold;
        # each value is still held against the rule as it is sent.
        query = select(column, func.count()).where(on_a_list).group_by(column).limit(variants.TRACKED_VALUES + 1)
        tally, decode = tallies[placeholder.name], placeholder.attribute is not None
        for value, recipients in (await session.execute(query)).all():
            if decode and value is not None:
                value = json.loads(value)
            tally.add(variants.reviewed_form(template.as_text(value)), recipients)
    return tallies


def _attribute_json(session: AsyncSession, key: str):
    """An attribute's value as JSON text, to group by (PostgreSQL's json type has no equality) and
    decode in Python exactly as the sending path sees it. SQLite's JSON_EXTRACT turns true and
    false into 1 and 0, so its booleans are read by their JSON type."""
    if session.get_bind().dialect.name != "sqlite":
        return cast(Subscriber.attributes[key], Text)
    path = f'$."{key}"'  # key matches [\w-]+ (template._ATTRIBUTE_NAME)
    kind = func.json_type(Subscriber.attributes, path)
    return case((kind.in_(("true", "false")), kind),
                else_=func.json_quote(func.json_extract(Subscriber.attributes, path)))


async def _quiet_hours_findings(session: AsyncSession, campaign: Campaign, list_ids: list[str],
                                settings: Settings) -> list[content.Finding]:
    window = quiet_hours.parse_window(settings.quiet_hours)
    if window is None or not list_ids:
        return []
    rows = (await session.execute(
        select(Subscriber.time_zones, Subscriber.us_state).select_from(Subscription)
        .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
        .where(targeting.condition(session, list_ids, campaign.audience_filter)).limit(5000)
    )).all()
    if not rows:
        return []
    share = quiet_hours.share_in_quiet_hours(campaign.scheduled_at, [(zones, state) for zones, state in rows], window)
    if share <= 0.5:
        return []
    return [content.Finding("quiet_hours", "warn",
                            f"at the scheduled time {share:.0%} of the audience is inside quiet hours; their "
                            "messages will wait for the next sending window", None)]


def _require_owner(campaign: Campaign, actor: User) -> None:
    if campaign.owner_id is None:
        raise Conflict(f"campaign {campaign.id} was handed back to the company; take it over first "
                       f"(POST /v1/campaigns/{campaign.id}/take-over)", code="campaign_unowned")
    if campaign.owner_id != actor.id:
        raise Forbidden(f"campaign {campaign.id} belongs to another marketer; only its owner can change it")


def _require_owner_or_ops(campaign: Campaign, actor: User, action: str) -> None:
    """Pause and cancel: the campaign's owner, or ops (who watch every campaign)."""
    if Role.OPS in actor.roles:
        return
    if campaign.owner_id != actor.id:
        raise Forbidden(f"campaign {campaign.id} belongs to another marketer; only its owner or ops can {action} it")


async def _check_references(session: AsyncSession, sender_id: str, list_ids: list[str]) -> None:
    if await session.get(Sender, sender_id) is None:
        raise Invalid(f"no sender with id {sender_id}", field="sender_id")
    found = set((await session.scalars(select(SubscriberList.id).where(SubscriberList.id.in_(list_ids)))).all())
    missing = [lid for lid in list_ids if lid not in found]
    if missing:
        raise Invalid(f"no list with id {', '.join(missing)}", field="list_ids")


async def create(session: AsyncSession, *, name: str, sender_id: str, list_ids: list[str], body: str,
                 scheduled_at: datetime | None, rollout: dict | None, spike_policy: str, actor: User,
                 transactional: bool = False, segment_id: str | None = None, filter_json=None) -> Campaign:
    await _check_references(session, sender_id, list_ids)
    audience_filter = await targeting.campaign_filter(session, segment_id=segment_id, filter_json=filter_json)
    campaign = Campaign(name=name, author_id=actor.id, owner_id=actor.id, sender_id=sender_id, body=body,
                        scheduled_at=scheduled_at, rollout=rollout, spike_policy=spike_policy,
                        transactional=transactional, state=CampaignState.DRAFT, segment_id=segment_id,
                        audience_filter=audience_filter)
    session.add(campaign)
    await session.flush()
    session.add_all([CampaignList(campaign_id=campaign.id, list_id=lid) for lid in sorted(set(list_ids))])
    record(session, "campaign.created", actor=actor, target_type="campaign", target_id=campaign.id, name=name)
    await session.flush()
    return campaign


async def edit(session: AsyncSession, campaign: Campaign, changes: dict, *, actor: User) -> Campaign:
    _require_owner(campaign, actor)
    if campaign.state not in lifecycle.EDITABLE:
        raise Conflict(f"a {campaign.state} campaign cannot be edited", code="not_editable")
    if "sender_id" in changes or "list_ids" in changes:
        await _check_references(session, changes.get("sender_id", campaign.sender_id),
                                changes.get("list_ids") or await list_ids_of(session, campaign))
    if "segment_id" in changes or "filter" in changes:
        campaign.audience_filter = await targeting.campaign_filter(
            session, segment_id=changes.get("segment_id"), filter_json=changes.get("filter"))
        campaign.segment_id = changes.get("segment_id")
    for key in ("name", "sender_id", "body", "scheduled_at", "rollout", "spike_policy", "transactional"):
        if key in changes:
            setattr(campaign, key, changes[key])
    if "list_ids" in changes:
        await session.execute(delete(CampaignList).where(CampaignList.campaign_id == campaign.id))
        session.add_all([CampaignList(campaign_id=campaign.id, list_id=lid) for lid in sorted(set(changes["list_ids"]))])
    campaign.updated_at = utcnow()
    record(session, "campaign.edited", actor=actor, target_type="campaign", target_id=campaign.id,
           fields=sorted(changes))
    if campaign.state != CampaignState.DRAFT:
        move(session, campaign, CampaignState.DRAFT, actor=actor, reason=f"edited while {campaign.state}: the review is void")
    await session.flush()
    return campaign


async def submit(session: AsyncSession, campaign: Campaign, *, actor: User, settings: Settings) -> Campaign:
    _require_owner(campaign, actor)
    if campaign.state not in (CampaignState.DRAFT, CampaignState.CHANGES_REQUESTED):
        raise Conflict(f"a {campaign.state} campaign cannot be submitted for review", code="illegal_transition")
    result = await evaluate(session, campaign, settings)
    if result["blocking"]:
        raise Conflict("submission refused while a blocking finding stands: "
                       + "; ".join(f.message for f in result["blocking"]),
                       code="blocking_findings", details=[finding_out(f) for f in result["findings"]])
    move(session, campaign, CampaignState.IN_REVIEW, actor=actor, reason="submitted for review")
    await session.flush()
    return campaign


async def review(session: AsyncSession, campaign: Campaign, *, reviewer: User, decision: str, comment: str,
                 settings: Settings) -> Campaign:
    if reviewer.id in (campaign.author_id, campaign.owner_id):
        raise Forbidden("the author of a campaign cannot review it; another reviewer must")
    if campaign.state != CampaignState.IN_REVIEW:
        raise Conflict(f"only a campaign in review can be reviewed; this one is {campaign.state}",
                       code="illegal_transition")
    result = await evaluate(session, campaign, settings)
    if decision == "approve" and result["blocking"]:
        raise Conflict("cannot approve while a blocking finding stands: "
                       + "; ".join(f.message for f in result["blocking"]), code="blocking_findings",
                       details=[finding_out(f) for f in result["findings"]])
    session.add(Review(campaign_id=campaign.id, reviewer_id=reviewer.id, decision=decision, comment=comment,
                       content_hash=result["hash"], findings=[finding_out(f) for f in result["findings"]],
                       audience_size=await audience_size(session, result["list_ids"], campaign.audience_filter)))
    if decision == "approve":
        move(session, campaign, CampaignState.APPROVED, actor=reviewer, reason=comment or "approved")
        campaign.approved_hash, campaign.approved_by_id, campaign.approved_at = result["hash"], reviewer.id, utcnow()
        campaign.approved_values = result["values"] or None
        campaign.oops_warned = any(f.code in ("oops_personal", "personal_contact") for f in result["findings"])
    else:
        move(session, campaign, CampaignState.CHANGES_REQUESTED, actor=reviewer, reason=comment)
    await session.flush()
    return campaign


async def still_approved(session: AsyncSession, campaign: Campaign, settings: Settings) -> dict:
    """Before anything is sent (launch, resume): the content still matches what was approved, and the
    sender is still a verified company sender (docs/design.md, invariants 1 and 4)."""
    result = await evaluate(session, campaign, settings, approved_values=True)
    if result["hash"] != campaign.approved_hash:
        raise Conflict("the campaign changed since it was approved; it needs a new review", code="approval_void")
    sender = result["sender"]
    if sender is None or not sender.is_verified:
        raise Conflict(f"sender {campaign.sender_id} is {sender.state if sender else 'unknown'}: "
                       "a campaign leaves only from a verified company sender", code="sender_not_verified")
    return result


async def launch(session: AsyncSession, campaign: Campaign, *, actor: User, settings: Settings,
                 now: datetime | None = None) -> Campaign:
    """approved → scheduled (a future scheduled_at) or sending. Re-checks the approval and the sender."""
    now = now or utcnow()
    _require_owner(campaign, actor)
    if campaign.state != CampaignState.APPROVED:
        raise Conflict(f"only an approved campaign can be launched; this one is {campaign.state}",
                       code="illegal_transition")
    result = await still_approved(session, campaign, settings)
    campaign.launched_at = now
    if campaign.scheduled_at is not None and campaign.scheduled_at > now:
        move(session, campaign, CampaignState.SCHEDULED, actor=actor, reason=f"launched for {campaign.scheduled_at.isoformat()}")
    else:
        await start_sending(session, campaign, list_ids=result["list_ids"], actor=actor, settings=settings, now=now)
    await session.flush()
    return campaign


async def start_sending(session: AsyncSession, campaign: Campaign, *, list_ids: list[str], actor: User | None,
                        settings: Settings, now: datetime | None = None) -> int:
    """Materialise the audience (a marketing campaign under the company's frequency cap), hold all
    but the canary slice if there is one, move to sending."""
    cap = None if campaign.transactional else await company.frequency_cap(session, settings)
    count = await materialise(session, campaign, list_ids, cap=cap, now=now)
    capped = await session.scalar(select(func.count()).select_from(Message).where(
        Message.campaign_id == campaign.id, Message.state == MessageState.SKIPPED)) if cap is not None else 0
    rollout = effective_rollout(campaign, settings)
    held = await hold_rest(session, campaign.id, rollout["first_slice_percent"]) if rollout else 0
    reason = (f"launched to {count} recipients" + (f"; {capped} skipped by the frequency cap" if capped else "")
              + (f"; {held} held behind a canary slice" if held else ""))
    move(session, campaign, CampaignState.SENDING, actor=actor, reason=reason)
    return count


async def pause(session: AsyncSession, campaign: Campaign, *, actor: User | None, reason: str,
                by_guard: bool = False) -> Campaign:
    """sending/scheduled → paused, by the owner or ops (``actor`` None is Fineline itself: a guard, a
    sender's suspension). ``by_guard``: a guard (the spike guard, the canary judge) paused it, so only
    ops may resume it, with a comment."""
    if actor is not None:
        _require_owner_or_ops(campaign, actor, "pause")
    move(session, campaign, CampaignState.PAUSED, actor=actor, reason=reason)
    if by_guard:
        campaign.paused_by_guard = True
    await session.flush()
    return campaign


async def resume(session: AsyncSession, campaign: Campaign, *, actor: User, comment: str | None,
                 settings: Settings, now: datetime | None = None) -> Campaign:
    """paused → sending (or back to scheduled). The same checks as a launch: the approval still
    matches the content and the sender is verified. Messages already sent are never queued again."""
    now = now or utcnow()
    if campaign.state != CampaignState.PAUSED:
        raise Conflict(f"only a paused campaign can be resumed; this one is {campaign.state}", code="illegal_transition")
    if campaign.paused_by_guard:
        if Role.OPS not in actor.roles:
            raise Forbidden("the unsubscribe-spike guard paused this campaign: only ops may resume it")
        if not (comment or "").strip():
            raise Invalid("resuming a campaign the spike guard paused needs a comment saying why", field="comment")
    else:
        _require_owner(campaign, actor)
    result = await still_approved(session, campaign, settings)
    campaign.paused_by_guard = False
    materialised = await session.scalar(select(func.count()).select_from(Message).where(Message.campaign_id == campaign.id))
    if materialised:
        move(session, campaign, CampaignState.SENDING, actor=actor, reason=comment or "resumed")
    elif campaign.scheduled_at is not None and campaign.scheduled_at > now:
        move(session, campaign, CampaignState.SCHEDULED, actor=actor, reason=comment or "resumed; waiting for its time")
    else:
        await start_sending(session, campaign, list_ids=result["list_ids"], actor=actor, settings=settings, now=now)
    await session.flush()
    return campaign


async def cancel(session: AsyncSession, campaign: Campaign, *, actor: User, reason: str | None) -> Campaign:
    _require_owner_or_ops(campaign, actor, "cancel")
    move(session, campaign, CampaignState.CANCELLED, actor=actor, reason=reason or "cancelled")
    await session.flush()
    return campaign


async def take_over(session: AsyncSession, campaign: Campaign, *, actor: User) -> Campaign:
    if campaign.owner_id is not None:
        raise Conflict(f"campaign {campaign.id} already has an owner", code="campaign_owned")
    campaign.owner_id = actor.id
    record(session, "campaign.taken_over", actor=actor, target_type="campaign", target_id=campaign.id)
    await session.flush()
    return campaign


async def hand_back(session: AsyncSession, user: User, *, actor: User) -> list[Campaign]:
    """Offboarding: every campaign of the leaver's that is not finished goes back to the company, so a
    marketer can take it over: a draft to finish, an approved one to launch, and a paused one to
    resume (only an owner resumes). One that is sending goes on sending; ops can still pause or
    cancel it, and whoever takes it over can too."""
    campaigns = (await session.scalars(
        select(Campaign).where(Campaign.owner_id == user.id,
                               Campaign.state.not_in((CampaignState.COMPLETED, CampaignState.CANCELLED)))
        .order_by(Campaign.id))).all()
    for campaign in campaigns:
        campaign.owner_id = None
        record(session, "campaign.handed_back", actor=actor, target_type="campaign", target_id=campaign.id,
               previous_owner=user.id)
    await session.flush()
    return list(campaigns)


def finding_out(finding: content.Finding) -> dict:
    return {"code": finding.code, "severity": finding.severity, "message": finding.message,
            "span": list(finding.span) if finding.span else None}
