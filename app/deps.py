"""Request dependencies: the session (commits before the response is sent), the settings, the provider
and the caller's roles. Every router takes its dependencies from here; no router imports another."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.api_keys import authenticate
from app.config import Settings
from app.errors import Forbidden, Unauthorized
from app.models import User
from app.providers import Provider
from app.vocab.roles import Role


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.db.unit_of_work() as session:  # commit on success, else roll back
        yield session


# scope="function": the commit runs when the endpoint returns, before the response goes out, so a
# client never sees a 2xx for work that was not committed.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def get_settings(request: Request) -> Settings:  # async: a plain def would cost a thread hop per request
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_provider(request: Request) -> Provider:
    return request.app.state.provider


ProviderDep = Annotated[Provider, Depends(get_provider)]


def bearer_token(request: Request) -> str:
    """The API key of the request's one Authorization header (401 when missing or malformed)."""
    header = request.headers.get("authorization")
    if not header:
        raise Unauthorized("missing Authorization header; send 'Authorization: Bearer <api key>'")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("the Authorization header must be 'Bearer <api key>'")
    return token.strip()


async def current_user(request: Request, session: SessionDep) -> User:
    user = await authenticate(session, bearer_token(request))
    if user is None:
        raise Unauthorized("the API key is not valid (unknown, revoked, or its user was offboarded)")
    request.state.user_id = user.id
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def require(*roles: Role):
    """A dependency that lets through a user holding any of ``roles``; others get 403."""

    async def _check(user: CurrentUser) -> User:
        if not user.has_any(*roles):
            raise Forbidden(f"this action needs the role {' or '.join(roles)}; you have {', '.join(user.roles) or 'none'}")
        return user

    return Depends(_check)


AdminDep = Annotated[User, require(Role.ADMIN)]
MarketerDep = Annotated[User, require(Role.MARKETER)]
ReviewerDep = Annotated[User, require(Role.REVIEWER)]
OpsDep = Annotated[User, require(Role.OPS)]
OpsOrMarketerDep = Annotated[User, require(Role.OPS, Role.MARKETER)]
AudienceReaderDep = Annotated[User, require(Role.MARKETER, Role.REVIEWER, Role.OPS)]
