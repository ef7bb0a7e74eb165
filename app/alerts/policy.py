"""What the guards judge against: the spike and failure policies from the settings, and the
company's baseline opt-out rate. Used by the spike guard (``guard.py``), the canary judge
(``app.dispatch.canary``) and the guard-levels endpoint; it imports no other domain, so any of
them may use it without closing a cycle.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts import detector
from app.config import Settings
from app.models import Campaign
from app.vocab.campaign import CampaignState


def spike_policy(settings: Settings) -> detector.SpikePolicy:
    return detector.SpikePolicy(min_opt_outs=settings.spike_min_opt_outs, multiple=settings.spike_multiple,
                                alpha=settings.spike_alpha, ceiling=settings.spike_ceiling)


def failure_policy(settings: Settings) -> detector.SpikePolicy:
    return detector.SpikePolicy(min_opt_outs=settings.failure_min, multiple=settings.failure_multiple,
                                alpha=settings.spike_alpha, ceiling=settings.failure_ceiling)


async def company_baseline(session: AsyncSession, settings: Settings, *, excluding: str | None = None) -> float:
    """The company's normal opt-out rate over its recent completed campaigns; ``excluding`` one
    campaign (the campaign report measures a campaign against the others, not against itself)."""
    query = select(Campaign.opt_out_count, Campaign.delivered_count).where(Campaign.state == CampaignState.COMPLETED)
    if excluding is not None:
        query = query.where(Campaign.id != excluding)
    history = (await session.execute(
        query.order_by(Campaign.completed_at.desc()).limit(settings.baseline_campaigns))).all()
    return detector.baseline_rate([(o, d) for o, d in history], prior=settings.baseline_prior)


async def guard_levels(session: AsyncSession, campaign: Campaign, settings: Settings) -> dict:
    """Where the spike guard stands for ``campaign``: the baseline, the rate bar and the count that
    would fire at its current delivered count (for charts)."""
    baseline = await company_baseline(session, settings)
    policy = spike_policy(settings)
    return {"campaign_id": campaign.id, "baseline_rate": baseline, "rate_bar": policy.rate_bar(baseline),
            "threshold": detector.threshold(campaign.delivered_count, baseline, policy),
            "opt_outs": campaign.opt_out_count, "delivered": campaign.delivered_count}
