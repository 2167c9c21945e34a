"""API clients: who may call ``POST /tokens``, and for which Spots.

Keys are never stored: the configuration holds their SHA-256 hex digests, and a
presented key is hashed and compared with every digest in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Final

from service.errors import InvalidApiKey, MissingApiKey
from service.settings.model import Settings

KEY_PREFIX: Final = "sso_"


@dataclass(frozen=True, slots=True)
class ApiClient:
    """An authenticated caller: its name and the Spot aliases it may use."""

    name: str
    spots: tuple[str, ...]
    rate_limit: str


def key_digest(api_key: str) -> str:
    """The SHA-256 hex digest of an API key, as the configuration stores it."""
    return hashlib.sha256(api_key.encode()).hexdigest()


def new_api_key() -> str:
    """A fresh random API key (256 bits), prefixed so secret scanners recognise it."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


class ApiClients:
    """The configured clients, looked up by API key."""

    def __init__(self, settings: Settings) -> None:
        self._entries = [
            (
                bytes.fromhex(digest),
                ApiClient(
                    name,
                    tuple(client.spots),
                    client.rate_limit or settings.limits.tokens_per_client,
                ),
            )
            for name, client in settings.clients.items()
            for digest in client.key_sha256
        ]

    def authenticate(self, api_key: str | None) -> ApiClient:
        """The client holding ``api_key``; every digest is compared, match or not."""
        if not api_key:
            raise MissingApiKey(
                "Send the API key as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'."
            )
        presented = hashlib.sha256(api_key.encode()).digest()
        found: ApiClient | None = None
        for digest, client in self._entries:
            if hmac.compare_digest(presented, digest):
                found = client
        if found is None:
            raise InvalidApiKey("The API key is not valid.")
        return found


def api_key_from_headers(authorization: str | None, x_api_key: str | None) -> str | None:
    """The key from ``Authorization: Bearer`` or ``X-API-Key``; both must agree if both are sent."""
    bearer = None
    if authorization:
        scheme, _, credentials = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            raise InvalidApiKey("The Authorization header must be 'Bearer <key>'.")
        bearer = credentials.strip()
    key = x_api_key.strip() if x_api_key else None
    if bearer and key and not hmac.compare_digest(bearer.encode(), key.encode()):
        raise InvalidApiKey("Authorization and X-API-Key carry different keys; send one.")
    return bearer or key
