from __future__ import annotations

from fastapi import APIRouter

from app.deps import AdminDep, SessionDep
from app.flows import service
from app.flows.schemas import OffboardOut
from app.users import service as users

router = APIRouter(prefix="/v1", tags=["employees"])


@router.post("/users/{user_id}/offboard", response_model=OffboardOut)
async def offboard(user_id: str, session: SessionDep, admin: AdminDep):
    user = await users.get_user(session, user_id)
    return await service.offboard(session, user, actor=admin)
