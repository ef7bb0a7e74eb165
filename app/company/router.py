from __future__ import annotations

from fastapi import APIRouter

from app.company import service
from app.company.schemas import SettingsIn, SettingsOut
from app.deps import AdminDep, CurrentUser, SessionDep, SettingsDep

router = APIRouter(prefix="/v1", tags=["company"])


@router.get("/settings", response_model=SettingsOut)
async def get_settings(session: SessionDep, settings: SettingsDep, _: CurrentUser):
    """The company's settings in force (any employee may read them: marketers plan around the cap)."""
    return await service.view(session, settings)


@router.put("/settings", response_model=SettingsOut)
async def put_settings(body: SettingsIn, session: SessionDep, settings: SettingsDep, admin: AdminDep):
    """Admin only; audited (``company.settings_changed`` with the values before and after)."""
    cap = body.frequency_cap.model_dump() if body.frequency_cap is not None else None
    return await service.update(session, cap=cap, actor=admin, settings=settings)
