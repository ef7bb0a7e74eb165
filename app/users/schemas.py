from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

from app.vocab.roles import Role


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    name: str = Field(min_length=1, max_length=200)
    roles: list[Role] = Field(min_length=1, max_length=len(Role))

    @field_validator("roles")
    @classmethod
    def _unique(cls, roles: list[str]) -> list[str]:
        return sorted(set(roles))

    @field_validator("name")
    @classmethod
    def _strip(cls, name: str) -> str:
        if not name.strip():
            raise ValueError("name must not be blank")
        return name.strip()


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    email: str
    name: str
    roles: list[Role]
    active: bool
    created_at: datetime
    offboarded_at: datetime | None


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    prefix: str
    created_at: datetime
    api_key: str = Field(description="the key itself; shown only in this response, store it now")


class ApiKeyInfoOut(BaseModel):
    """A key as listed: never the key itself, which is stored only as a hash."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


class UserCreatedOut(UserOut):
    api_key: str = Field(description="the new user's API key; shown only in this response")
