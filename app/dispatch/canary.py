"""Canary releases: send a random first slice, hold the rest, judge the slice, then release or hold.

``rollout = {first_slice_percent, observe_minutes}``. A campaign whose review raised an oops warning
gets a canary by default (``canary_default_percent`` / ``canary_default_minutes``). After the whole
slice went out and ``observe_minutes`` passed since its last send, the detector judges the slice's
opt-outs: clean → the held messages are released; a spike (or an unresolved spike alert) → they
stay held, a ``canary_held`` alert opens and the campaign pauses for ops.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select, update

from app.alerts import detector
from app.alerts.policy import company_baseline, spike_policy
from app.alerts.service import open_alert
from app.audit.service import record
from app.campaigns import service as campaigns
from app.campaigns.audience import effective_rollout
from app.config import Settings
from app.db import Database
from app.db.base import utcnow
from app.models import Alert, Campaign, Message
from app.vocab.alert import AlertState
from app.vocab.campaign import CampaignState
from app.vocab.message import MessageState


async def judge_canaries(db: Database, settings: Settings, *, now: datetime | None = None) -> dict[str, list[str]]:
    now = now or utcnow()
    verdicts: dict[str, list[str]] = {"released": [], "held": [], "waiting": []}
    async with db.unit_of_work() as session:
        candidates = (await session.scalars(
            select(Campaign).where(Campaign.state == CampaignState.SENDING, Campaign.canary_released_at.is_(None),
                                   select(Message.id).where(Message.campaign_id == Campaign.id, Message.held)
                                   .exists())
            .with_for_update(skip_locked=True))).all()
        for campaign in candidates:
            rollout = effective_rollout(campaign, settings) or {"observe_minutes": 0}
            in_flight = await session.scalar(select(func.count()).select_from(Message).where(
                Message.campaign_id == campaign.id, Message.held.is_(False),
                Message.state.in_((MessageState.QUEUED, MessageState.SENDING, MessageState.UNKNOWN))))
            last_sent = await session.scalar(select(func.max(Message.sent_at)).where(
                Message.campaign_id == campaign.id, Message.held.is_(False)))
            if in_flight or last_sent is None or now < last_sent + timedelta(minutes=rollout["observe_minutes"]):
                verdicts["waiting"].append(campaign.id)
                continue
            baseline = await company_baseline(session, settings)
            verdict = detector.evaluate(campaign.opt_out_count, campaign.delivered_count, baseline,
                                        spike_policy(settings))
            spiking = await session.scalar(select(Alert.id).where(
                Alert.campaign_id == campaign.id, Alert.kind == "unsubscribe_spike", Alert.state != AlertState.RESOLVED))
            if verdict.fires or spiking:
                await open_alert(
                    session, "canary_held", campaign_id=campaign.id, action="held",
                    metrics=verdict.metrics(),
                    message=(f"Campaign '{campaign.name}': the first slice drew {verdict.opt_outs} opt-outs of "
                             f"{verdict.delivered} delivered; the rest is held."))
                await campaigns.pause(session, campaign, actor=None, reason="canary: the first slice looks abnormal",
                                      by_guard=True)
                verdicts["held"].append(campaign.id)
                continue
            released = await session.execute(update(Message).where(Message.campaign_id == campaign.id, Message.held)
                                              .values(held=False).execution_options(synchronize_session=False))
            campaign.canary_released_at = now
            record(session, "campaign.canary_released", actor=None, target_type="campaign", target_id=campaign.id,
                   released=released.rowcount, opt_outs=campaign.opt_out_count, delivered=campaign.delivered_count)
            verdicts["released"].append(campaign.id)
    return verdicts
