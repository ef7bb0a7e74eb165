from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status

from app.deps import AdminDep, CurrentUser, ProviderDep, SessionDep, SettingsDep
from app.models import Sender
from app.pagination import Page, PageDep, page_of
from app.senders import service
from app.senders.schemas import AssignIn, RevokeIn, SenderIn, SenderOut, SenderPatch
from app.users import service as users
from app.vocab.sender import SenderState

router = APIRouter(prefix="/v1/senders", tags=["senders"])


async def _sender(sender_id: str, session: SessionDep, request: Request, _: CurrentUser) -> Sender:
    # Authenticated first; locked for changes so a verify and a revoke cannot interleave.
    return await service.get_sender(session, sender_id, lock=request.method != "GET")


SenderDep = Annotated[Sender, Depends(_sender)]


@router.post("", response_model=SenderOut, status_code=status.HTTP_201_CREATED)
async def register_sender(body: SenderIn, session: SessionDep, admin: AdminDep, settings: SettingsDep):
    return await service.register(session, kind=body.kind, address=body.address, label=body.label, mps=body.mps,
                                  actor=admin, region=settings.default_region)


@router.get("", response_model=Page[SenderOut])
async def list_senders(session: SessionDep, _: CurrentUser, page: PageDep,
                       state: SenderState | None = None):
    rows = await service.list_senders(session, limit=page.limit + 1, cursor=page.cursor, state=state)
    return page_of(rows, page)


@router.get("/{sender_id}", response_model=SenderOut)
async def get_sender(sender: SenderDep, _: CurrentUser):
    return sender


@router.patch("/{sender_id}", response_model=SenderOut)
async def update_sender(body: SenderPatch, sender: SenderDep, session: SessionDep, admin: AdminDep):
    return await service.update(session, sender, actor=admin, label=body.label, mps=body.mps)


@router.post("/{sender_id}/verify", response_model=SenderOut)
async def verify_sender(sender: SenderDep, session: SessionDep, admin: AdminDep, provider: ProviderDep):
    return await service.verify(session, sender, provider=provider, actor=admin)


@router.post("/{sender_id}/confirm", response_model=SenderOut)
async def confirm_sender(sender: SenderDep, session: SessionDep, admin: AdminDep, provider: ProviderDep):
    """A second admin confirms an alphanumeric sender ID (the same as verify for that kind)."""
    return await service.verify(session, sender, provider=provider, actor=admin)


@router.post("/{sender_id}/revoke", response_model=SenderOut)
async def revoke_sender(sender: SenderDep, session: SessionDep, admin: AdminDep, body: RevokeIn | None = None):
    return await service.revoke(session, sender, actor=admin, reason=body.reason if body else None)


@router.post("/{sender_id}/assign", response_model=SenderOut)
async def assign_sender(body: AssignIn, sender: SenderDep, session: SessionDep, admin: AdminDep):
    user = await users.get_user(session, body.user_id) if body.user_id else None
    return await service.assign(session, sender, user=user, actor=admin)
