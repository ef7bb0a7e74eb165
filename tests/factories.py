"""Plain factory functions with keyword overrides."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from app.models import User
from app.users import service as users


@dataclass
class Actor:
    user: User
    key: str

    @property
    def id(self) -> str:
        return self.user.id

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


async def make_user(session, *, roles: list[str], email: str | None = None, name: str = "Test User") -> Actor:
    email = email or f"user-{uuid.uuid4().hex[:8]}@example.com"
    user, _, key = await users.create_user(session, email=email, name=name, roles=roles, actor=None)
    return Actor(user=user, key=key)


class CountedBody:
    """A request body handed over in chunks, counting how many the server pulled (whether, and how
    far, a body was read)."""

    def __init__(self, size: int, chunk: int = 1024, fill: bytes = b" "):
        self.size, self.chunk, self.fill, self.pulled = size, chunk, fill, 0

    async def __aiter__(self):
        sent = 0
        while sent < self.size:
            self.pulled += 1
            part = min(self.chunk, self.size - sent)
            sent += part
            yield self.fill * part


async def verified_test_number(client, actor: Actor, phone: str, provider) -> dict:
    """Register ``phone`` as ``actor``'s test number and type back the code the sandbox delivered."""
    added = await client.post("/v1/me/test-numbers", json={"phone": phone}, headers=actor.headers)
    assert added.status_code == 201, added.text
    code = re.search(r"code is (\d{6})", provider.sent[-1].body).group(1)
    verified = await client.post(f"/v1/me/test-numbers/{added.json()['id']}/verify", json={"code": code},
                                 headers=actor.headers)
    assert verified.status_code == 200, verified.text
    return verified.json()
