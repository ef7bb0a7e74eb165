from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from app.models import Alert
from app.vocab.alert import AlertState


class AlertOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    kind: str
    campaign_id: str | None
    sender_id: str | None
    state: AlertState
    opened_at: datetime
    updated_at: datetime
    metrics: dict
    action: str
    message: str
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    comment: str | None

    @classmethod
    def of(cls, alert: Alert) -> AlertOut:
        out = cls.model_validate(alert)
        out.campaign_id = alert.campaign_id or None
        out.sender_id = alert.sender_id or None
        return out


class CommentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: str | None = Field(default=None, max_length=2000)
