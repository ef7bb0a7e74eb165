from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class AuditEventOut(BaseModel):
    model_config = {"from_attributes": True}

    id: str
    at: datetime
    actor_id: str | None
    action: str
    target_type: str
    target_id: str | None
    details: dict[str, Any]
