"""The host platform's user, normalised: what the rules turn into a Spot member."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class UserProfile(BaseModel):
    """The host platform's user, normalised; mapping turns it into claims for a Spot."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str = Field(min_length=1)
    email: str
    first_name: str
    last_name: str
    title: str | None = None
    avatar_url: str | None = None
    locale: str | None = None
    timezone: str | None = None
    groups: list[str] = Field(default_factory=list)
    attributes: dict[str, Any] = Field(default_factory=dict)
