from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, status

from app.deps import AudienceReaderDep, MarketerDep, SessionDep, require
from app.models import User
from app.pagination import Page, PageDep, page_of
from app.targeting import service
from app.targeting.schemas import PreviewIn, PreviewOut, SegmentIn, SegmentOut
from app.vocab.roles import Role

router = APIRouter(prefix="/v1", tags=["segments"])
CheckerDep = Annotated[User, require(Role.MARKETER, Role.REVIEWER)]


@router.post("/segments", response_model=SegmentOut, status_code=status.HTTP_201_CREATED)
async def create_segment(body: SegmentIn, session: SessionDep, marketer: MarketerDep):
    """Save a filter under a name; a campaign takes it by ``segment_id``. A segment is never edited."""
    return await service.create_segment(session, name=body.name, filter_json=body.filter, actor=marketer)


@router.get("/segments", response_model=Page[SegmentOut])
async def list_segments(session: SessionDep, _: AudienceReaderDep, page: PageDep):
    return page_of(await service.list_segments(session, limit=page.limit + 1, cursor=page.cursor), page)


@router.get("/segments/{segment_id}", response_model=SegmentOut)
async def get_segment(segment_id: str, session: SessionDep, _: AudienceReaderDep):
    return await service.get_segment(session, segment_id)


@router.post("/segments/preview", response_model=PreviewOut)
async def preview(body: PreviewIn, session: SessionDep, _: CheckerDep):
    """How many of the lists' sendable subscribers pass the filter, and a sample of 10. No change."""
    return await service.preview(session, body.list_ids, body.filter)
