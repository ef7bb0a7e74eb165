from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.audience.schemas import SubscriberOut

FILTER_DESCRIPTION = "an audience filter (docs/api.md, \"Segments\"): it can only remove people from the lists"


class SegmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    filter: Any = Field(description=FILTER_DESCRIPTION)


class SegmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    filter: dict = Field(description="the filter in its normal form")
    created_by_id: str | None
    created_at: datetime


class PreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    list_ids: list[str] = Field(min_length=1, max_length=50)
    filter: Any = Field(description=FILTER_DESCRIPTION)


class PreviewOut(BaseModel):
    count: int = Field(description="sendable subscribers of the lists who pass the filter, each once")
    sample: list[SubscriberOut] = Field(description="the first 10 of them, by id")
    filter: dict = Field(description="the filter in its normal form")
