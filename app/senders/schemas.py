from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from app.vocab.sender import SenderKind, SenderState


class SenderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: SenderKind
    address: str = Field(min_length=1, max_length=64)
    label: str = Field(min_length=1, max_length=200)
    mps: int | None = Field(default=None, ge=1, le=10_000, description="messages per second; defaults by kind")


class SenderPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str | None = Field(default=None, min_length=1, max_length=200)
    mps: int | None = Field(default=None, ge=1, le=10_000)


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: str | None = Field(description="the employee whose business line this is; null returns it to the pool")


class RevokeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=500)


class SenderOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    kind: SenderKind
    address: str
    label: str
    mps: int
    state: SenderState
    state_reason: str | None
    pool: list[str]
    assigned_to_id: str | None
    registered_by_id: str | None
    confirmed_by_id: str | None
    created_at: datetime
    verified_at: datetime | None
    last_checked_at: datetime | None
    suspended_at: datetime | None
    revoked_at: datetime | None
    registration: dict | None = Field(
        default=None, description="the carriers' verdict at the last check: state (approved, pending, missing, "
        "rejected, suspended), the carrier-facing reason, what to do, and the limits it sets (mps, daily_cap)")
    daily_cap: int | None = Field(default=None, description="messages per day the registration allows")
