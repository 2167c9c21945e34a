"""Signing and checking MeltingSpot SSO tokens: the only module that imports python-jose.

A token is a compact JWS, HS256, header ``{"alg":"HS256","typ":"JWT"}``, signed with
the Spot's private key string as UTF-8 bytes. python-jose alone decides whether a token
is valid; when it refuses one, the standard library (base64, json) looks at the parts
to say what is wrong in a person's words.
"""

from __future__ import annotations

import base64
import json
import string
import time
from datetime import UTC, datetime
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
_PARTS: Final = ("header", "payload", "signature")
_BASE64URL: Final = frozenset(string.ascii_letters + string.digits + "-_")
_UNITS: Final = ((86_400, "d"), (3_600, "h"), (60, "min"), (1, "s"))


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
            raise ExpiredToken(_expired(token)) from None
        except JOSEError as exc:
            raise InvalidToken(_malformed(token) or _reason(exc)) from None
        except (TypeError, ValueError, OverflowError):
            raise InvalidToken("a time claim (exp, iat, nbf) is not a number") from None
        _require_numeric_times(claims)
        return claims


def _require_numeric_times(claims: dict[str, Any]) -> None:
    for name in ("exp", "iat", "nbf"):
        value = claims.get(name)
        if name in claims and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise InvalidToken(f"claim {name!r} must be a number of seconds (RFC 7519)")


def _malformed(token: str) -> str | None:
    """What is wrong with the form of ``token``, part by part, or None if nothing is.

    Only an explanation, for a token python-jose refused: it never accepts one.
    """
    if not token:
        return "the token is empty"
    parts = token.split(".")
    if len(parts) != len(_PARTS):
        return (
            "the token is not three dot-separated parts (header.payload.signature): "
            f"it has {len(parts)}"
        )
    for name, part in zip(_PARTS, parts, strict=True):
        problem = _part_problem(name, part)
        if problem is not None:
            return problem
    return None


def _part_problem(name: str, part: str) -> str | None:
    unpadded = part.rstrip("=")  # python-jose tolerates padding
    if not unpadded and name == "signature":
        return "the token is unsigned: its signature is empty"
    if not unpadded:
        return f"the {name} is empty"
    stray = next((char for char in unpadded if char not in _BASE64URL), None)
    if stray is not None:
        return f"the {name} is not valid base64url (it contains {stray!r})"
    if len(unpadded) % 4 == 1:
        return f"the {name} is not valid base64url ({len(unpadded)} characters: cut short?)"
    if name == "signature":
        return None
    return _json_problem(name, base64.urlsafe_b64decode(unpadded + "=" * (-len(unpadded) % 4)))


def _json_problem(name: str, raw: bytes) -> str | None:
    try:
        value = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return f"the {name} is not UTF-8 text, so not JSON"
    except json.JSONDecodeError as exc:
        return f"the {name} is not JSON ({exc.msg} at character {exc.pos})"
    if isinstance(value, dict):
        return None
    return f"the {name} is a JSON {_json_type(value)}, not an object"


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    return "null" if value is None else "number"


def _expired(token: str) -> str:
    """When the token expired, and how long ago (python-jose has checked the signature)."""
    try:
        exp = int(jwt.get_unverified_claims(token)["exp"])
        when = datetime.fromtimestamp(exp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (JOSEError, KeyError, TypeError, ValueError, OverflowError, OSError):
        return "the token has expired"
    return f"the token expired at {when} ({_duration(max(now() - exp, 0))} ago)"


def _duration(seconds: int) -> str:
    """``12 s``, ``3 min 12 s``, ``2 h 5 min``, ``3 d 4 h``: the two largest units."""
    amounts = []
    for size, name in _UNITS:
        amount, seconds = divmod(seconds, size)
        amounts.append((amount, name))
    first = next((i for i, (amount, _) in enumerate(amounts) if amount), len(amounts) - 1)
    shown = amounts[first : first + 2]
    return " ".join(f"{amount} {name}" for amount, name in shown if amount or len(shown) == 1)


def _reason(exc: JOSEError) -> str:
    text = reason(exc)
    if "Signature verification failed" in text:
        return "the signature does not match this Spot's key"
    return text


def now() -> int:
    """Seconds since the epoch, as ``iat`` wants it."""
    return int(time.time())
