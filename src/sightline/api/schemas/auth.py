"""Login and the logged-in user."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from sightline.access.passwords import MAX_PASSWORD_LENGTH

__all__ = ["LoginIn", "MeOut", "TokenOut"]


class LoginIn(BaseModel):
    """Credentials for ``POST /api/v1/auth/login``."""

    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)


class TokenOut(BaseModel):
    """A bearer token: send it as ``Authorization: Bearer <access_token>``."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: datetime


class MeOut(BaseModel):
    """Who the token belongs to."""

    user_id: int
    username: str
    is_admin: bool
    expires_at: datetime | None
