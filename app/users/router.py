from __future__ import annotations

from fastapi import APIRouter, status

from app.deps import AdminDep, CurrentUser, SessionDep
from app.pagination import Page, PageDep, page_of
from app.users import service
from app.users.schemas import ApiKeyInfoOut, ApiKeyOut, UserCreatedOut, UserIn, UserOut

router = APIRouter(prefix="/v1", tags=["employees"])


@router.post("/users", response_model=UserCreatedOut, status_code=status.HTTP_201_CREATED)
async def create_user(body: UserIn, session: SessionDep, admin: AdminDep):
    user, _, plaintext = await service.create_user(
        session, email=body.email, name=body.name, roles=body.roles, actor=admin
    )
    return {**UserOut.model_validate(user).model_dump(), "api_key": plaintext}


@router.get("/users", response_model=Page[UserOut])
async def list_users(session: SessionDep, _: AdminDep, page: PageDep):
    return page_of(await service.list_users(session, limit=page.limit + 1, cursor=page.cursor), page)


@router.get("/users/{user_id}", response_model=UserOut)
async def get_user(user_id: str, session: SessionDep, _: AdminDep):
    return await service.get_user(session, user_id)


@router.post("/users/{user_id}/api-keys", response_model=ApiKeyOut, status_code=status.HTTP_201_CREATED)
async def issue_key(user_id: str, session: SessionDep, admin: AdminDep):
    user = await service.get_user(session, user_id)
    key, plaintext = await service.issue_key(session, user, actor=admin)
    return {"id": key.id, "prefix": key.prefix, "created_at": key.created_at, "api_key": plaintext}


@router.get("/users/{user_id}/api-keys", response_model=list[ApiKeyInfoOut])
async def list_keys(user_id: str, session: SessionDep, actor: CurrentUser):
    """A user's keys (admin, or the user themself): ids and visible prefixes, never the keys."""
    return await service.keys_of(session, user_id, actor=actor)


@router.delete("/users/{user_id}/api-keys/{key_id}", response_model=ApiKeyInfoOut)
async def revoke_key(user_id: str, key_id: str, session: SessionDep, actor: CurrentUser):
    """Revoke one key without offboarding its user (admin, or the key's own user). Audited."""
    return await service.revoke_key(session, user_id, key_id, actor=actor)


@router.get("/me", response_model=UserOut)
async def me(user: CurrentUser):
    return user
