"""The unsubscribe-spike guard, evaluated as each opt-out arrives (seconds, not minutes).

1. Attribution: an opt-out (keyword, natural language, Twilio 21610) belongs to the last campaign
   message sent to that number within ``attribution_hours`` (default 72 h).
2. The campaign's counters move (``opt_out_count``; ``delivered_count`` moves with status callbacks).
3. The pure detector (``detector.py``) judges the counts against the company's baseline: the
   size-weighted opt-out rate of its recent completed campaigns, shrunk toward a prior.
4. Firing opens one ``unsubscribe_spike`` alert with its numbers and, under the campaign's policy
   ``pause`` (the default), pauses the campaign so the rest of the audience is spared.

Delivery failures (undelivered/failed, carrier filtering 30007 in particular) get the same
treatment with their own thresholds, as an alert only.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import bindparam, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts import detector
from app.alerts.policy import company_baseline, failure_policy, spike_policy
from app.alerts.service import open_alert
from app.campaigns import service as campaigns
from app.config import Settings
from app.db.base import utcnow
from app.models import Alert, Campaign, Message
from app.vocab.alert import AlertState
from app.vocab.campaign import CampaignState
from app.vocab.message import MessageState

SPIKE = "unsubscribe_spike"


_messages, _campaigns = Message.__table__, Campaign.__table__
# A message in flight (claimed, its result not yet recorded) counts too: the STOP can arrive
# before the worker has written down the provider's answer.
_sent_or_claimed = func.coalesce(_messages.c.sent_at, _messages.c.claimed_at)
_ATTRIBUTE = (
    update(_messages)
    .where(_messages.c.id == select(_messages.c.id).where(
        _messages.c.to == bindparam("p_phone"),
        _messages.c.state.in_((MessageState.SENDING, MessageState.SENT, MessageState.DELIVERED)),
        _sent_or_claimed >= bindparam("p_since", type_=_messages.c.sent_at.type),
        _messages.c.opted_out_at.is_(None),
    ).order_by(_sent_or_claimed.desc()).limit(1).scalar_subquery(), _messages.c.opted_out_at.is_(None))
    .values(opted_out_at=bindparam("p_at")).returning(_messages.c.campaign_id)
)


def _count_opt_out(campaign_id):
    """One more opt-out on the campaign ``campaign_id`` names (a parameter, or the attribution's
    RETURNING), returning its id, its counts and whether a spike alert is already open."""
    return (update(_campaigns).where(_campaigns.c.id == campaign_id)
            .values(opt_out_count=_campaigns.c.opt_out_count + 1)
            .returning(_campaigns.c.id, _campaigns.c.opt_out_count, _campaigns.c.delivered_count,
                       exists().where(Alert.kind == SPIKE, Alert.campaign_id == _campaigns.c.id,
                                      Alert.state != AlertState.RESOLVED).label("already_alerted")))


_COUNT_OPT_OUT = _count_opt_out(bindparam("p_campaign_id"))


def attribute_and_count(when=None):
    """PostgreSQL: the attribution and its campaign's count in one statement (one round trip less for
    every STOP): the message's UPDATE as a CTE whose RETURNING the campaign's UPDATE joins, so the
    message is still locked before the campaign. With ``when`` (a condition on a CTE of an enclosing
    statement: the inbound webhook's suppression being new) nothing is attributed unless it holds."""
    attribute = _ATTRIBUTE if when is None else _ATTRIBUTE.where(when)
    return _count_opt_out(attribute.cte("attributed").c.campaign_id)


_ATTRIBUTE_AND_COUNT = attribute_and_count()


def attribution_parameters(phone: str, *, settings: Settings, at: datetime) -> dict:
    """The values ``_ATTRIBUTE`` (and ``attribute_and_count``) binds."""
    return {"p_phone": phone, "p_since": at - timedelta(hours=settings.attribution_hours), "p_at": at}


async def record_opt_out(session: AsyncSession, phone: str, *, settings: Settings,
                         at: datetime | None = None) -> Alert | None:
    """Attribute one opt-out and judge its campaign. Returns the alert if this opt-out fired it.

    On the common path: mark the message (an UPDATE whose subquery finds it) and count the opt-out
    on its campaign (``x = x + 1 RETURNING``, which also says whether a spike alert is already open)
    — one statement on PostgreSQL, two on SQLite. The campaign row stays locked from that count to
    the commit, so it is the last statement of the opt-out and the judge reads the counts it returned.
    """
    at = at or utcnow()
    connection = await session.connection()  # Core only: no ORM work to do
    found = attribution_parameters(phone, settings=settings, at=at)
    if connection.dialect.name == "postgresql":
        counted = (await connection.execute(_ATTRIBUTE_AND_COUNT, found)).one_or_none()
        if counted is None:
            return None
        campaign_id, opt_outs, delivered, already_alerted = counted
    else:
        campaign_id = await connection.scalar(_ATTRIBUTE, found)
        if campaign_id is None:
            return None
        _, opt_outs, delivered, already_alerted = (
            await connection.execute(_COUNT_OPT_OUT, {"p_campaign_id": campaign_id})).one()
    return await judge_counted(session, campaign_id, opt_outs, delivered, already_alerted, settings=settings)


async def judge_counted(session: AsyncSession, campaign_id: str, opt_outs: int, delivered: int,
                        already_alerted: bool, *, settings: Settings) -> Alert | None:
    """After an opt-out was counted on ``campaign_id`` (its counts as the count returned them, the
    campaign row still locked): judge it when it could decide something. Returns the alert it fired."""
    # Most opt-outs decide nothing. Below the minimum no baseline can make them fire, and while the
    # campaign's spike alert is open a new one could not open (open_alert would refuse it).
    if already_alerted or opt_outs < settings.spike_min_opt_outs:
        return None
    baseline = await company_baseline(session, settings)
    if not detector.would_fire(opt_outs, delivered, baseline, spike_policy(settings)):
        return None
    return await judge(session, campaign_id, settings=settings, baseline=baseline)


async def judge(session: AsyncSession, campaign_id: str, *, settings: Settings,
                baseline: float | None = None) -> Alert | None:
    """Judge ``campaign_id`` on its counts now (locking its row): open the spike alert and pause it
    when the detector fires. ``baseline``: the company's, when the caller has just read it."""
    campaign = await session.get(Campaign, campaign_id, with_for_update=True, populate_existing=True)
    if baseline is None:
        baseline = await company_baseline(session, settings)
    verdict = detector.evaluate(campaign.opt_out_count, campaign.delivered_count, baseline, spike_policy(settings))
    if not verdict.fires:
        return None
    pausing = campaign.spike_policy == "pause" and campaign.state in (CampaignState.SENDING, CampaignState.SCHEDULED)
    # The alert's numbers, its message and the pause reason all come from the one verdict: the
    # counts at the decision (the campaign's own counts move on as later opt-outs arrive).
    alert = await open_alert(
        session, SPIKE, campaign_id=campaign.id, metrics=verdict.metrics(),
        action="paused" if pausing else "alert_only",
        message=f"Campaign '{campaign.name}': {verdict.reason}",
    )
    if alert is not None and pausing:
        await campaigns.pause(session, campaign, actor=None,
                              reason=f"the unsubscribe-spike guard fired at {verdict.reason}", by_guard=True)
    return alert


_COUNT_DELIVERED = (update(_campaigns).where(_campaigns.c.id == bindparam("p_campaign_id"))
                    .values(delivered_count=_campaigns.c.delivered_count + bindparam("p_delivered")))
_COUNT_FAILED = (update(_campaigns).where(_campaigns.c.id == bindparam("p_campaign_id"))
                 .values(delivered_count=_campaigns.c.delivered_count + bindparam("p_delivered"),
                         failed_count=_campaigns.c.failed_count + bindparam("p_failed"))
                 .returning(_campaigns.c.failed_count, _campaigns.c.delivered_count))


async def record_deliveries(session: AsyncSession, campaign_id: str, *, delivered: int, failed: int,
                            settings: Settings, error_code: int | None) -> None:
    """Status callbacks moved ``delivered`` messages of ``campaign_id`` to delivered and ``failed`` to
    undelivered or failed (one batch of the applier): count them in one statement; judge failures."""
    connection = await session.connection()
    values = {"p_campaign_id": campaign_id, "p_delivered": delivered, "p_failed": failed}
    if not failed:
        if delivered:
            await connection.execute(_COUNT_DELIVERED, values)
        return
    failed, delivered = (await connection.execute(_COUNT_FAILED, values)).one()
    total = delivered + failed
    verdict = detector.evaluate(failed, total, settings.failure_baseline, failure_policy(settings))
    if verdict.fires:
        name = await session.scalar(select(Campaign.name).where(Campaign.id == campaign_id))
        await open_alert(
            session, "delivery_failure_spike", campaign_id=campaign_id, action="alert_only",
            metrics={"failed": failed, "delivered": delivered,
                     "rate": round(verdict.rate, 6), "baseline_rate": settings.failure_baseline,
                     "threshold": verdict.threshold, "last_error_code": error_code},
            message=(f"Campaign '{name}': {failed} of {total} messages undelivered or failed "
                     f"({verdict.rate:.1%})" + (" — carrier filtering (30007)" if error_code == 30007 else "")),
        )
