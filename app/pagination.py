"""``?limit=&cursor=`` in, ``{"items": [...], "next_cursor": ...}`` out (docs/api.md, Conventions)."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


class PageParams(BaseModel):
    limit: int
    cursor: str | None


def _page_params(
    limit: Annotated[int, Query(ge=1, le=500, description="items per page")] = 50,
    cursor: Annotated[str | None, Query(max_length=64, description="next_cursor of the previous page")] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=cursor)


PageDep = Annotated[PageParams, Depends(_page_params)]


def page_of(rows: list, params: PageParams, *, key=lambda row: row.id) -> dict:
    """Rows fetched with ``limit + 1``: the extra row only says there is a next page."""
    items = rows[: params.limit]
    next_cursor = key(items[-1]) if len(rows) > params.limit else None
    return {"items": items, "next_cursor": next_cursor}


async def keyset(session: AsyncSession, model, *, limit: int, cursor: str | None, where=()) -> list:
    """One page of ``model`` rows in id order after ``cursor`` (the ``id`` of the last row seen),
    narrowed by the ``where`` conditions."""
    query = select(model).where(*where).order_by(model.id).limit(limit)
    if cursor:
        query = query.where(model.id > cursor)
    return list((await session.scalars(query)).all())
