from __future__ import annotations

from pydantic import BaseModel, Field

from app.users.schemas import UserOut


class HandedBack(BaseModel):
    senders: list[dict] = Field(default_factory=list)
    campaigns: list[dict] = Field(default_factory=list)


class OffboardOut(BaseModel):
    user: UserOut
    revoked_keys: int
    handed_back: HandedBack
