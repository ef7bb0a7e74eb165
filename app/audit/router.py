from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from app.audit import service
from app.deps import AdminDep, SessionDep
from app.pagination import Page, PageDep, page_of
from app.types import Timestamp

router = APIRouter(prefix="/v1/audit", tags=["audit"])


class AuditEventOut(BaseModel):
    model_config = {"from_attributes": True}

    id: str
    at: datetime
    actor_id: str | None
    action: str
    target_type: str
    target_id: str | None
    details: dict[str, Any]


@router.get("", response_model=Page[AuditEventOut])
async def list_audit_events(
    session: SessionDep,
    _: AdminDep,
    page: PageDep,
    action: Annotated[str | None, Query(max_length=64)] = None,
    actor_id: Annotated[str | None, Query(max_length=40)] = None,
    target_type: Annotated[str | None, Query(max_length=32)] = None,
    target_id: Annotated[str | None, Query(max_length=40)] = None,
    since: Timestamp | None = None,
    until: Timestamp | None = None,
):
    rows = await service.list_events(
        session,
        limit=page.limit + 1,
        cursor=page.cursor,
        action=action,
        actor_id=actor_id,
        target_type=target_type,
        target_id=target_id,
        since=since,
        until=until,
    )
    return page_of(rows, page)
