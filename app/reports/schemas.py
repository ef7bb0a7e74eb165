"""The campaign report's answer (``GET /v1/campaigns/{id}/report``)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class SliceOut(BaseModel):
    """Counts with the campaign's own definitions (``campaigns.service.counts_of``)."""

    audience: int
    queued: int
    sent: int
    delivered: int
    failed: int
    skipped: int
    frequency_capped: int  # of the skipped: by the company's frequency cap
    opt_outs: int
    opt_out_rate: float


class ErrorCount(BaseModel):
    error_code: int | None
    count: int


class ReasonCount(BaseModel):
    reason: str
    count: int


class BaselineOut(BaseModel):
    baseline_rate: float  # the company's normal opt-out rate, over its other completed campaigns
    rate_bar: float  # the rate the spike guard counts as large
    ratio: float | None  # opt_out_rate / baseline_rate


class RepliesOut(BaseModel):
    replied: int  # sent messages a recipient answered (an inbox text, not a keyword)
    reply_rate: float  # replied / sent
    window_hours: int


class ClicksOut(BaseModel):
    available: bool  # clicks are counted (tracked links)
    unique_human: int  # recipients who clicked a tracked link, link previewers left out
    click_rate: float  # unique_human / delivered


class CostOut(BaseModel):
    segments_sent: int
    segments_recorded: int
    messages_estimated: int  # sent messages whose segments were not recorded (estimated from the body)
    estimated_segments_per_message: int | None
    price_per_segment: float
    currency: str
    estimated_cost: float


class CanaryOut(BaseModel):
    first_slice_percent: float | None
    released_at: datetime | None
    first_slice: SliceOut
    rest: SliceOut


class TimelinePoint(BaseModel):
    minute: datetime
    sent: int
    delivered: int
    failed: int
    opt_outs: int


class TimelineOut(BaseModel):
    bucket_seconds: int
    points: list[TimelinePoint]


class ReportOut(SliceOut):
    campaign_id: str
    name: str
    state: str
    launched_at: datetime | None
    completed_at: datetime | None
    generated_at: datetime
    unknown: int
    failed_by_error_code: list[ErrorCount]
    skipped_by_reason: list[ReasonCount]
    opt_out_baseline: BaselineOut
    replies: RepliesOut
    clicks: ClicksOut
    cost: CostOut
    canary: CanaryOut | None
    timeline: TimelineOut
