"""``POST /tokens``: a token for a user, for product backends holding an API key."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from service.contract.claims import Key, Member, PropertyValue
from service.contract.membership import DomainChanges, Explicit, GroupChanges, settle
from service.errors import FieldError, InvalidRequest, SpotNotAllowed, UnknownUser
from service.identity.base import UserProfile
from service.runtime.clients import ApiClient
from service.runtime.runtime import Issued, Runtime
from service.settings.spots import TTL_CEILING
from service.web.auth import ApiCallerDep, ApiRoute
from service.web.problems import problem_responses
from service.web.routes import operation_id

router = APIRouter(
    tags=["tokens"],
    route_class=ApiRoute,
    # A body without Content-Type is read as JSON; ApiRoute refuses any other type.
    strict_content_type=False,
    generate_unique_id_function=operation_id,
)


class _CamelModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class TokenRequest(_CamelModel):
    """Who the token is for, and for which Spot."""

    spot: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        description="Spot alias or Spot ID; optional when the client may use one Spot only.",
    )
    user_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        description="The user's ID on the host platform, looked up through the identity adapter.",
    )
    user: Member | None = Field(
        default=None, description="The user's full profile, in claim names (instead of userId)."
    )
    ttl_seconds: int | None = Field(
        default=None,
        ge=1,
        le=TTL_CEILING,
        description="Token lifetime; defaults to the Spot's token_ttl_seconds, "
        "at most its max_token_ttl_seconds.",
    )
    groups: GroupChanges | None = Field(
        default=None,
        description="Spot group IDs to join or leave, on top of the Spot's group sync.",
    )
    custom_properties: dict[Key, PropertyValue] | None = Field(
        default=None,
        max_length=100,
        description="Custom property values, on top of the Spot's property rules.",
    )
    domains: DomainChanges | None = Field(
        default=None, description="Domains to set or unset, on top of the Spot's domain rules."
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"spot": "main", "userId": "u-1001"},
                {
                    "spot": "main",
                    "user": {
                        "sub": "u-1001",
                        "firstName": "Ada",
                        "lastName": "Lovelace",
                        "email": "ada@example.com",
                        "lang": "fr",
                    },
                    "ttlSeconds": 120,
                },
                {
                    "spot": "main",
                    "userId": "u-1001",
                    "groups": {"join": ["6564a1b2c3d4e5f6a7b8c9d0"]},
                    "customProperties": {"company": "Analytical Engines"},
                    "domains": {"set": {"default": "https://app.example.com/community"}},
                },
            ]
        }
    )

    @model_validator(mode="after")
    def _one_user(self) -> TokenRequest:
        if (self.user_id is None) == (self.user is None):
            raise ValueError("give exactly one of userId or user")
        return self


class TokenResponse(_CamelModel):
    """A signed MeltingSpot SSO token and when it expires."""

    @classmethod
    def of(cls, issued: Issued) -> TokenResponse:
        """The reply for a token the Runtime issued."""
        return cls(
            token=issued.token,
            expires_in=issued.expires_in,
            expires_at=issued.expires_at,
            spot=issued.spot,
            spot_id=issued.spot_id,
        )

    token: str = Field(description="The JWT (HS256), for redirectUrl?token=... or authToken.")
    token_type: Literal["JWT"] = "JWT"  # noqa: S105 - a type name, not a secret
    expires_in: int = Field(description="Seconds from now until the token expires.")
    expires_at: datetime = Field(description="When the token expires (UTC, ISO 8601).")
    spot: str = Field(description="The Spot alias.")
    spot_id: str = Field(description="The MeltingSpot Spot ID.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1LTEwMDEifQ.c2ln",
                    "tokenType": "JWT",
                    "expiresIn": 60,
                    "expiresAt": "2026-11-27T09:00:00Z",
                    "spot": "main",
                    "spotId": "129487c9-6acc-43d9-ab96-182ded763538",
                }
            ]
        }
    )


@router.post(
    "/tokens",
    name="issueToken",
    summary="Issue a token for a user",
    response_model=TokenResponse,
    responses=problem_responses(401, 403, 404, 409, 413, 415, 422, 429, 502, 503),
)
async def issue_token(body: TokenRequest, caller: ApiCallerDep) -> TokenResponse:
    """Issue a signed MeltingSpot SSO token for one user and one Spot.

    Name the user by `userId` (looked up on the host platform through the identity
    adapter; the Spot's rules then apply: access, group sync, properties, domains) or give
    the whole profile as `user` (no rules: only the values given here). `groups`,
    `customProperties` and `domains` win over the rules, key by key. The reply is never cached
    (`Cache-Control: no-store`). The API key is checked before the body is read.
    """
    runtime, client = caller.runtime, caller.client
    alias = _allowed_spot(runtime, client, body.spot)
    profile = None if body.user else await _lookup(runtime, body.user_id or "")
    explicit = Explicit(body.groups, body.custom_properties, body.domains)
    member, made = settle(profile, body.user, runtime.settings.spots[alias], alias, explicit)
    issued = await runtime.issue(
        alias,
        member,
        flow="tokens",
        made=made,
        ttl_seconds=body.ttl_seconds,
        client=client.name,
        audit=caller.access,
        request_id=caller.request_id,
    )
    return TokenResponse.of(issued)


def _allowed_spot(runtime: Runtime, client: ApiClient, ref: str | None) -> str:
    if ref is None:
        if len(client.spots) != 1:
            raise InvalidRequest(
                [FieldError("/spot", f"required: this client may use {', '.join(client.spots)}")]
            )
        return client.spots[0]
    alias, _ = runtime.spot(ref)
    if alias not in client.spots:
        raise SpotNotAllowed(f"Client {client.name!r} may not issue tokens for Spot {alias!r}.")
    return alias


async def _lookup(runtime: Runtime, user_id: str) -> UserProfile:
    profile = await runtime.adapter.fetch_user(user_id)
    if profile is None:
        raise UnknownUser(f"The identity source knows no user with ID {user_id!r}.")
    return profile
