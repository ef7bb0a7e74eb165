"""The company's settings: read (the saved row, else the environment's defaults) and changed by an
admin (audited with the values before and after). Services flush; callers commit."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record
from app.company.policy import FrequencyCap, cap_of
from app.config import Settings
from app.db.base import utcnow
from app.db.upsert import insert_ignore
from app.models import CompanySettings, User
from app.models.company import COMPANY_ROW


async def saved(session: AsyncSession) -> CompanySettings | None:
    return await session.get(CompanySettings, COMPANY_ROW, populate_existing=True)


async def frequency_cap(session: AsyncSession, settings: Settings) -> FrequencyCap | None:
    """The cap in force now: the company's saved one, else the environment's default. One primary-key
    read (the worker asks once per batch, so a change applies to the next batch)."""
    row = await saved(session)
    if row is None:
        return cap_of(settings.frequency_cap_messages, settings.frequency_cap_hours)
    return cap_of(row.frequency_cap_messages, row.frequency_cap_hours)


def cap_out(cap: FrequencyCap | None) -> dict | None:
    return None if cap is None else {"messages": cap.messages, "hours": cap.hours}


async def view(session: AsyncSession, settings: Settings) -> dict:
    row = await saved(session)
    return {"frequency_cap": cap_out(await frequency_cap(session, settings)),
            "source": "company" if row is not None else "default",
            "updated_at": row.updated_at if row is not None else None,
            "updated_by_id": row.updated_by_id if row is not None else None}


async def update(session: AsyncSession, *, cap: dict | None, actor: User, settings: Settings) -> dict:
    """Save the company's settings (``cap`` None: no frequency cap). The row is locked while it
    changes, so two admins' saves apply one after the other, each audited with what it replaced."""
    messages, hours = (cap["messages"], cap["hours"]) if cap is not None else (0, settings.frequency_cap_hours)
    values = {"id": COMPANY_ROW, "frequency_cap_messages": messages, "frequency_cap_hours": hours,
              "updated_at": utcnow(), "updated_by_id": actor.id}
    row = await session.get(CompanySettings, COMPANY_ROW, with_for_update=True, populate_existing=True)
    if row is None and await insert_ignore(session, CompanySettings, values, conflict=["id"]):
        before = cap_out(cap_of(settings.frequency_cap_messages, settings.frequency_cap_hours))
    else:  # saved before (perhaps by another admin a moment ago): change it under its lock
        row = row or await session.get(CompanySettings, COMPANY_ROW, with_for_update=True, populate_existing=True)
        before = cap_out(cap_of(row.frequency_cap_messages, row.frequency_cap_hours))
        for key, value in values.items():
            setattr(row, key, value)
    record(session, "company.settings_changed", actor=actor, target_type="company_settings", target_id=None,
           previous={"frequency_cap": before}, current={"frequency_cap": cap_out(cap_of(messages, hours))})
    await session.flush()
    return await view(session, settings)
