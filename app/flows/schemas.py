from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from app.users.schemas import UserOut


class HandedBack(BaseModel):
    senders: list[dict] = Field(default_factory=list)
    campaigns: list[dict] = Field(default_factory=list)
    conversations: list[dict] = Field(default_factory=list, description="now the successor's, or in the queue")
    handover_texts: list[dict] = Field(default_factory=list, description="per conversation: the reply, or the "
                                                                         "rule that refused it")


class OffboardIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    successor_id: str | None = Field(default=None, max_length=40,
                                     description="the agent who takes over the conversations; none: the queue")
    handover_text: str | None = Field(default=None, min_length=1, max_length=1600,
                                      description="one text to each customer whose conversation goes on")


class OffboardOut(BaseModel):
    user: UserOut
    revoked_keys: int
    handed_back: HandedBack
