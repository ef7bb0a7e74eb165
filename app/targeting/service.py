"""Segments: saved filters, resolving a campaign's filter, and previewing an audience.

Queries only; takes the session first, flushes, never commits. A filter reaches SQL only through
``compiler.audience_condition`` (consent AND the filter).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record
from app.db.base import utcnow
from app.errors import Invalid, NotFound
from app.models import Segment, Subscriber, SubscriberList, Subscription, User
from app.pagination import keyset
from app.targeting import filters
from app.targeting.compiler import audience_condition

PREVIEW_SAMPLE = 10


def normalised(raw, *, field: str = "filter") -> dict:
    """The normal form of a filter sent over the API, or 422 naming the path of the bad node."""
    try:
        return filters.normalise(raw, field)
    except filters.FilterError as exc:
        raise Invalid(f"bad filter at {exc.path}: {exc.message}", field=exc.path, code="invalid_filter") from exc


def condition(session: AsyncSession, list_ids, filter_json: dict | None, *, now: datetime | None = None):
    """Consent on ``list_ids`` AND ``filter_json`` (None: no filter), for this session's database."""
    return audience_condition(list_ids, filter_json, dialect=session.get_bind().dialect.name, now=now or utcnow())


async def create_segment(session: AsyncSession, *, name: str, filter_json, actor: User) -> Segment:
    segment = Segment(name=name, filter=normalised(filter_json), created_by_id=actor.id)
    session.add(segment)
    await session.flush()
    record(session, "segment.created", actor=actor, target_type="segment", target_id=segment.id, name=name)
    await session.flush()
    return segment


async def get_segment(session: AsyncSession, segment_id: str, *, field: str | None = None) -> Segment:
    """``field``: the request field that named it (a 422 there); None: a 404 for the path's id."""
    segment = await session.get(Segment, segment_id)
    if segment is None:
        if field is not None:
            raise Invalid(f"no segment with id {segment_id}", field=field)
        raise NotFound(f"no segment with id {segment_id}")
    return segment


async def list_segments(session: AsyncSession, *, limit: int, cursor: str | None) -> list[Segment]:
    return await keyset(session, Segment, limit=limit, cursor=cursor)


async def campaign_filter(session: AsyncSession, *, segment_id: str | None, filter_json) -> dict | None:
    """A campaign's own copy of its filter: the segment's, or the inline one normalised, or None."""
    if segment_id is not None and filter_json is not None:
        raise Invalid("give segment_id or filter, not both", field="filter")
    if segment_id is not None:
        return (await get_segment(session, segment_id, field="segment_id")).filter
    return normalised(filter_json) if filter_json is not None else None


async def audience_size(session: AsyncSession, list_ids: list[str], filter_json: dict | None) -> int:
    """Distinct sendable subscribers across the lists who pass the filter (each person once)."""
    if not list_ids:
        return 0
    query = (select(func.count(func.distinct(Subscriber.id))).select_from(Subscription)
             .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
             .where(condition(session, list_ids, filter_json)))
    return int(await session.scalar(query) or 0)


async def preview(session: AsyncSession, list_ids: list[str], filter_json) -> dict:
    """How many sendable subscribers of the lists pass the filter, and the first PREVIEW_SAMPLE."""
    found = set((await session.scalars(select(SubscriberList.id).where(SubscriberList.id.in_(list_ids)))).all())
    missing = [lid for lid in list_ids if lid not in found]
    if missing:
        raise Invalid(f"no list with id {', '.join(missing)}", field="list_ids")
    normal = normalised(filter_json)
    now = utcnow()
    passes = (select(Subscription.id).where(Subscription.subscriber_id == Subscriber.id,
                                            condition(session, list_ids, normal, now=now))
              .correlate(Subscriber).exists())
    sample = (await session.scalars(select(Subscriber).where(passes).order_by(Subscriber.id)
                                    .limit(PREVIEW_SAMPLE))).all()
    return {"count": await audience_size(session, list_ids, normal), "sample": list(sample), "filter": normal}
