"""Signing and checking MeltingSpot SSO tokens: the only module that imports python-jose.

A token is a compact JWS, HS256, header ``{"alg":"HS256","typ":"JWT"}``, signed with
the Spot's private key string as UTF-8 bytes.
"""

from __future__ import annotations

import time
from typing import Any, Final

from jose import jwk, jws, jwt
from jose.exceptions import ExpiredSignatureError, JOSEError
from pydantic import SecretStr

from service.contract.claims import SpotClaims
from service.errors import reason

ALGORITHM: Final = "HS256"
_VERIFY_OPTIONS: Final = {
    "verify_signature": True,
    "verify_exp": True,
    "verify_iat": True,
    "verify_aud": False,
    "require_exp": True,
    "require_iat": True,
    "require_sub": True,
}


class InvalidToken(Exception):
    """A token that does not verify; the message says why, never the token."""


class ExpiredToken(InvalidToken):
    """A token whose ``exp`` has passed."""


class TokenIssuer:
    """Signs and checks tokens for one Spot with its private key."""

    __slots__ = ("_key",)

    def __init__(self, private_key: SecretStr) -> None:
        # A prepared key object: python-jose would json.loads() a key given as a string.
        self._key = jwk.construct(private_key.get_secret_value(), ALGORITHM)

    def __repr__(self) -> str:
        return "TokenIssuer(private_key=SecretStr('**********'))"

    def sign(self, claims: SpotClaims) -> str:
        """The compact JWS of ``claims``."""
        payload = claims.model_dump_json(by_alias=True, exclude_none=True).encode()
        token: str = jws.sign(payload, self._key, algorithm=ALGORITHM)
        return token

    def verify(self, token: str, *, leeway: int = 0) -> dict[str, Any]:
        """The claims of ``token`` if it is HS256, signed with this key and not expired."""
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") != ALGORITHM:
                raise InvalidToken(f"algorithm {header.get('alg')!r} is not {ALGORITHM}")
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                options={**_VERIFY_OPTIONS, "leeway": leeway},
            )
        except ExpiredSignatureError:
            raise ExpiredToken("the token has expired") from None
        except JOSEError as exc:
            raise InvalidToken(_reason(exc)) from None
        except (TypeError, ValueError, OverflowError):
            raise InvalidToken("a time claim (exp, iat, nbf) is not a number") from None
        _require_numeric_times(claims)
        return claims


def _require_numeric_times(claims: dict[str, Any]) -> None:
    for name in ("exp", "iat", "nbf"):
        value = claims.get(name)
        if name in claims and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise InvalidToken(f"claim {name!r} must be a number of seconds (RFC 7519)")


def _reason(exc: JOSEError) -> str:
    text = reason(exc)
    if "Signature verification failed" in text:
        return "the signature does not match this Spot's key"
    return text


def now() -> int:
    """Seconds since the epoch, as ``iat`` wants it."""
    return int(time.time())
