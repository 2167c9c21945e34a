"""The OpenID Connect adapter: an OpenID provider (Keycloak, Auth0, Okta, Entra ID, Google,
...) is the host platform's identity, with no host code.

spot-sso is a relying party of the provider, built on Authlib and joserfc (nothing of
OAuth or JOSE is written here):

- discovery from ``issuer`` (``/.well-known/openid-configuration``), kept for
  ``metadata_ttl_seconds``; the issuer it names must be the one configured;
- the authorization code flow with PKCE (S256), ``state`` and ``nonce``
  (``begin_login``); the pending login is kept by the web layer, bound to the browser;
- at the callback (``finish_login``): the code exchanged at the token endpoint
  (``client_secret_basic``, ``client_secret_post`` or ``private_key_jwt``), the ID token's
  signature checked against the provider's keys (fetched again, at most once a minute,
  when a token names a key not known yet) with an algorithm allow-list (asymmetric only:
  no ``none``, no HS*), then ``iss``, ``aud`` (and ``azp``), ``exp``/``iat`` with a small
  leeway, ``nonce`` and ``at_hash``; optionally ``userinfo``;
- the claims become a ``UserProfile`` by the same dotted paths as the HTTP adapter's,
  standard claims by default; ``email_verified`` must be true unless the configuration
  trusts the provider's emails.

Plain OpenID Connect cannot look a user up by ID: without ``lookup`` (a ``user_url`` as
the HTTP adapter's: SCIM, Graph, the host's API) ``fetch_user`` says so, and
``POST /tokens`` with ``userId`` answers a clear problem.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Final
from urllib.parse import urlsplit

import httpx
import orjson
from authlib.common.security import generate_token
from authlib.oauth2.auth import ClientAuth
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from service.contract.paths import MISSING, dig
from service.errors import (
    FieldError,
    IdentityBadResponse,
    IdentityUnavailable,
    InvalidRequest,
    LoginRefused,
    reason,
)
from service.identity.base import AdapterBase, SessionContext, UserProfile
from service.identity.http import Caches, HttpAdapter
from service.identity.mapping import map_profile
from service.settings.identity import OidcAdapterConfig
from service.state.shared import Codec
from service.streams import read_at_most

# Signature algorithms an ID token may use: asymmetric only. A provider's HS256 would be
# keyed with the client secret, a key the relying party holds too; ``none`` signs nothing.
ALLOWED_ALGORITHMS: Final = (
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
)  # fmt: skip
LEEWAY_SECONDS: Final = 60
JWKS_REFRESH_SECONDS: Final = 60.0  # at most one unknown-key refetch a minute
MAX_DOCUMENT_BYTES: Final = 1_048_576


@dataclass(frozen=True, slots=True)
class PendingLogin:
    """A login sent to the provider and not back yet: what the callback needs to finish
    it and to continue as ``/authorize`` would. Kept by the web layer, one use only."""

    state: str
    nonce: str
    code_verifier: str
    browser_sha256: str  # the browser's binding cookie, hashed
    spot: str
    redirect_url: str | None
    referrer_url: str | None
    interactive: bool  # False: sent with prompt=none

    def dumps(self) -> str:
        return orjson.dumps(asdict(self)).decode()

    @classmethod
    def loads(cls, text: str) -> PendingLogin:
        data = orjson.loads(text)
        if not isinstance(data, dict):
            raise ValueError("not a pending login")
        try:
            return cls(**data)
        except TypeError as exc:  # another version's fields
            raise ValueError(f"not a pending login: {exc}") from None

    def bound_to(self, browser: str | None) -> bool:
        """Whether the callback came back to the browser that started the login."""
        return browser is not None and sha256(browser) == self.browser_sha256


PENDING_LOGINS: Final[Codec[PendingLogin]] = Codec(dump=PendingLogin.dumps, load=PendingLogin.loads)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class OidcAdapter(AdapterBase):
    """Users from an OpenID provider, through the shared ``httpx.AsyncClient``."""

    def __init__(
        self, config: OidcAdapterConfig, http: httpx.AsyncClient, caches: Caches | None = None
    ) -> None:
        self._config = config
        self._http = http
        # Users by ID, when configured: the HTTP adapter's lookup, as it is.
        self._lookup = HttpAdapter(config.lookup, http, caches) if config.lookup else None
        self._timeout = httpx.Timeout(
            config.read_timeout_seconds, connect=config.connect_timeout_seconds
        )
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._keys: KeySet | None = None
        self._refreshed_at = -JWKS_REFRESH_SECONDS
        self._lock = asyncio.Lock()

    @property
    def config(self) -> OidcAdapterConfig:
        return self._config

    # --- the adapter interface ------------------------------------------------------

    async def resolve_session(self, ctx: SessionContext) -> UserProfile | None:
        """No session of its own to read: a browser signs in at the provider."""
        return None

    async def fetch_user(self, user_id: str) -> UserProfile | None:
        if self._lookup is not None:
            return await self._lookup.fetch_user(user_id)
        raise InvalidRequest(
            [
                FieldError(
                    "/userId",
                    "this service's identity source is an OpenID provider, which signs "
                    "browsers in but cannot look users up by ID (no identity.oidc.lookup is "
                    "configured): send the whole profile as `user`, or sign the user in "
                    "through GET /authorize",
                )
            ]
        )

    async def ready(self) -> dict[str, Any]:
        """Whether the provider answers its discovery document (the reason is logged)."""
        await self.metadata()
        return {}

    # --- discovery and keys ---------------------------------------------------------

    async def metadata(self) -> dict[str, Any]:
        """The provider's discovery document, kept for ``metadata_ttl_seconds``."""
        now = time.monotonic()
        if (
            self._metadata is not None
            and now - self._metadata_at < self._config.metadata_ttl_seconds
        ):
            return self._metadata
        async with self._lock:
            if (
                self._metadata is None
                or now - self._metadata_at >= self._config.metadata_ttl_seconds
            ):
                url = self._config.issuer.rstrip("/") + "/.well-known/openid-configuration"
                document = await self._get_json(url, "discovery document")
                _check_metadata(document, self._config.issuer)
                self._metadata, self._metadata_at = document, time.monotonic()
        assert self._metadata is not None
        return self._metadata

    async def _key_set(self, refresh: bool = False) -> KeySet:
        """The provider's keys: fetched once, and again for a key id not known yet (a
        rotation) at most once every ``JWKS_REFRESH_SECONDS``, however many tokens name
        unknown keys."""
        now = time.monotonic()
        if self._keys is not None:
            if not refresh or now - self._refreshed_at < JWKS_REFRESH_SECONDS:
                return self._keys
            self._refreshed_at = now
        metadata = await self.metadata()
        document = await self._get_json(metadata["jwks_uri"], "key set (jwks_uri)")
        try:
            keys = KeySet.import_key_set(document)  # type: ignore[arg-type]  # checked here
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise IdentityBadResponse(f"{self._host}: the key set is not usable ({exc})") from None
        self._keys = keys
        return keys

    # --- the login ------------------------------------------------------------------

    async def begin_login(
        self,
        *,
        redirect_uri: str,
        browser: str,
        spot: str,
        redirect_url: str | None,
        referrer_url: str | None,
        interactive: bool = True,
    ) -> tuple[str, PendingLogin]:
        """The provider's authorization URL for a new login, and the login to keep.

        ``browser`` is the random value of the cookie the web layer sets on the browser;
        only its hash is kept. ``interactive=False`` asks with ``prompt=none``.
        """
        metadata = await self.metadata()
        pending = PendingLogin(
            state=generate_token(32),
            nonce=generate_token(32),
            code_verifier=generate_token(64),
            browser_sha256=sha256(browser),
            spot=spot,
            redirect_url=redirect_url,
            referrer_url=referrer_url,
            interactive=interactive,
        )
        extra = {} if interactive else {"prompt": "none"}
        url = prepare_grant_uri(
            metadata["authorization_endpoint"],
            self._config.client_id,
            "code",
            redirect_uri=redirect_uri,
            scope=" ".join(self._config.scopes),
            state=pending.state,
            nonce=pending.nonce,
            code_challenge=create_s256_code_challenge(pending.code_verifier),  # type: ignore[no-untyped-call]
            code_challenge_method="S256",
            **extra,
        )
        return url, pending

    async def finish_login(
        self, *, code: str, pending: PendingLogin, redirect_uri: str
    ) -> UserProfile:
        """Exchange ``code``, check the ID token, and map its claims to a profile.

        ``LoginRefused`` (a page, never a token) when the provider's answer cannot be
        trusted; ``IdentityUnavailable``/``IdentityBadResponse`` when it cannot be had.
        """
        metadata = await self.metadata()
        tokens = await self._exchange(metadata["token_endpoint"], code, pending, redirect_uri)
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise LoginRefused("The OpenID provider's answer holds no ID token.")
        claims = await self._verify(id_token, pending.nonce, tokens.get("access_token"))
        if self._config.userinfo and metadata.get("userinfo_endpoint"):
            access_token = tokens.get("access_token")
            if isinstance(access_token, str):
                bearer = {"Authorization": f"Bearer {access_token}"}
                extra = await self._get_json(metadata["userinfo_endpoint"], "userinfo", bearer)
                if extra.get("sub") != claims["sub"]:
                    raise LoginRefused("The provider's userinfo names another user.")
                claims = {**extra, **claims}
        return self.profile(claims)

    def profile(self, claims: Mapping[str, Any]) -> UserProfile:
        """The ``UserProfile`` of an ID token's (or a saved set of) claims."""
        if not self._config.trust_unverified_email and claims.get("email_verified") is not True:
            raise LoginRefused(
                "The OpenID provider has not verified this user's email address "
                "(email_verified is not true), and MeltingSpot treats the token's email as "
                "verified."
            )
        data = dict(claims)
        fields = self._config.fields
        if dig(data, fields.first_name) is MISSING and dig(data, fields.last_name) is MISSING:
            first, last = _split_name(data.get("name"))
            if first is not None:
                data[fields.first_name], data[fields.last_name] = first, last
        return map_profile(data, fields, self._config.attributes, "the OpenID provider's claims")

    # --- HTTP -----------------------------------------------------------------------

    @property
    def _host(self) -> str:
        return urlsplit(self._config.issuer).netloc or self._config.issuer

    def _client_auth(self, token_endpoint: str) -> ClientAuth:
        """How spot-sso authenticates at the token endpoint (Authlib's methods)."""
        config = self._config
        method = config.token_endpoint_auth_method
        if method == "private_key_jwt":
            assert config.private_key is not None  # the settings require it
            return ClientAuth(
                config.client_id,
                config.private_key.get_secret_value(),
                PrivateKeyJWT(token_endpoint, alg="RS256"),
            )
        assert config.client_secret is not None  # the settings require it
        return ClientAuth(config.client_id, config.client_secret.get_secret_value(), method)

    async def _exchange(
        self, token_endpoint: str, code: str, pending: PendingLogin, redirect_uri: str
    ) -> dict[str, Any]:
        """The token endpoint's answer for ``code`` (with the PKCE verifier)."""
        body = prepare_token_request(
            "authorization_code",
            code=code,
            redirect_uri=redirect_uri,
            code_verifier=pending.code_verifier,
        )
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        }
        _, headers, body = self._client_auth(token_endpoint).prepare(  # type: ignore[no-untyped-call]
            "POST", token_endpoint, headers, body
        )
        status, document = await self._call("POST", token_endpoint, "token endpoint", headers, body)
        if status != 200:
            error = document.get("error") if isinstance(document.get("error"), str) else None
            raise LoginRefused(
                f"The OpenID provider refused to complete this sign-in ({error or status}). "
                "A sign-in link works once: start again from the Spot."
            )
        return document

    async def _verify(self, id_token: str, nonce: str, access_token: Any) -> dict[str, Any]:
        metadata = await self.metadata()
        offered = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
        algorithms = [alg for alg in offered if alg in ALLOWED_ALGORITHMS]
        if not algorithms:
            raise IdentityBadResponse(
                f"{self._host}: the provider signs ID tokens only with {', '.join(offered)}; "
                f"spot-sso accepts {', '.join(ALLOWED_ALGORITHMS)}"
            )
        registry = JWSRegistry(algorithms=algorithms)
        try:
            try:
                token = jwt.decode(id_token, await self._key_set(), registry=registry)
            except InvalidKeyIdError:  # a key the provider rotated in since
                token = jwt.decode(id_token, await self._key_set(refresh=True), registry=registry)
            params = {"nonce": nonce, "client_id": self._config.client_id}
            if isinstance(access_token, str):
                params["access_token"] = access_token
            options = {
                "iss": {"essential": True, "value": metadata["issuer"]},
                "aud": {"essential": True, "values": [self._config.client_id]},
                "nonce": {"essential": True},
            }
            claims = CodeIDToken(token.claims, token.header, options, params)
            claims.validate(leeway=LEEWAY_SECONDS)
        except (JoseError, ValueError, TypeError) as exc:
            raise LoginRefused(
                f"The OpenID provider's ID token was refused ({_jose_reason(exc)})."
            ) from None
        return dict(claims)

    async def _get_json(
        self, url: str, what: str, headers: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        status, document = await self._call("GET", url, what, headers)
        if status != 200:
            raise IdentityBadResponse(f"{self._host}: the {what} answered HTTP {status}")
        return document

    async def _call(
        self,
        method: str,
        url: str,
        what: str,
        headers: Mapping[str, str] | None = None,
        body: str | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """One call to the provider: its status and JSON object (an error answer's too)."""
        try:
            async with asyncio.timeout(self._config.total_timeout_seconds):
                request = self._http.build_request(
                    method, url, headers=headers, content=body, timeout=self._timeout
                )
                reply = await self._http.send(request, stream=True, follow_redirects=False)
                try:
                    too_large = IdentityBadResponse(
                        f"{self._host}: the {what} is larger than {MAX_DOCUMENT_BYTES} bytes"
                    )
                    raw = await read_at_most(
                        reply.aiter_bytes(),
                        MAX_DOCUMENT_BYTES,
                        reply.headers.get("content-length"),
                        too_large,
                    )
                finally:
                    await reply.aclose()
        except TimeoutError:
            raise IdentityUnavailable(f"{self._host}: the {what} took too long") from None
        except httpx.HTTPError as exc:
            raise IdentityUnavailable(
                f"{self._host}: cannot reach the {what} ({reason(exc)})"
            ) from None
        try:
            document = orjson.loads(raw)
        except orjson.JSONDecodeError:
            if reply.status_code != 200:
                return reply.status_code, {}
            raise IdentityBadResponse(f"{self._host}: the {what} is not JSON") from None
        if not isinstance(document, dict):
            raise IdentityBadResponse(f"{self._host}: the {what} is not a JSON object")
        return reply.status_code, document


def _check_metadata(document: Mapping[str, Any], issuer: str) -> None:
    if document.get("issuer") != issuer:
        raise IdentityBadResponse(
            f"{urlsplit(issuer).netloc}: the discovery document names the issuer "
            f"{document.get('issuer')!r}, not {issuer!r} as configured"
        )
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not isinstance(document.get(name), str):
            raise IdentityBadResponse(
                f"{urlsplit(issuer).netloc}: the discovery document has no {name}"
            )


def _split_name(name: Any) -> tuple[str | None, str | None]:
    """``"Ada King Lovelace"`` as ``("Ada King", "Lovelace")``; one word is a first name."""
    if not isinstance(name, str) or not name.strip():
        return None, None
    first, _, last = name.strip().rpartition(" ")
    return (first, last) if first else (last, None)


def _jose_reason(exc: Exception) -> str:
    error = getattr(exc, "error", None)
    description = getattr(exc, "description", None)
    text = description or error or str(exc) or type(exc).__name__
    return str(text)[:200]
