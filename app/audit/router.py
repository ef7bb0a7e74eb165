from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.audit import service
from app.audit.schemas import AuditEventOut
from app.deps import AdminDep, SessionDep
from app.pagination import Page, PageDep, page_of
from app.types import Timestamp

router = APIRouter(prefix="/v1/audit", tags=["audit"])


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
