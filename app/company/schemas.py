from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class FrequencyCapIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    messages: int = Field(ge=1, le=100, description="marketing messages a phone number may get in the window")
    hours: float = Field(gt=0, le=168, description="the rolling window, in hours (at most a week)")


class SettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    frequency_cap: FrequencyCapIn | None = Field(
        description="at most `messages` marketing messages per phone number in any `hours`; null: no cap")


class FrequencyCapOut(BaseModel):
    messages: int
    hours: float


class SettingsOut(BaseModel):
    frequency_cap: FrequencyCapOut | None
    source: str = Field(description="company: saved by an admin; default: the environment's default")
    updated_at: datetime | None
    updated_by_id: str | None
