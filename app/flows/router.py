from __future__ import annotations

from fastapi import APIRouter

from app.deps import AdminDep, SessionDep, SettingsDep
from app.flows import service
from app.flows.schemas import OffboardIn, OffboardOut
from app.users import service as users

router = APIRouter(prefix="/v1", tags=["employees"])


@router.post("/users/{user_id}/offboard", response_model=OffboardOut)
async def offboard(user_id: str, session: SessionDep, admin: AdminDep, settings: SettingsDep,
                   body: OffboardIn | None = None):
    user = await users.get_user(session, user_id)
    successor = await users.get_user(session, body.successor_id) if body and body.successor_id else None
    return await service.offboard(session, user, actor=admin, settings=settings, successor=successor,
                                  handover_text=body.handover_text if body else None)
