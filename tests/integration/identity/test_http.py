"""The HTTP adapter against a real ASGI host platform, and against faulty transports."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import pytest
from pydantic import ValidationError

from service import __version__
from service.errors import (
    IdentityBadResponse,
    IdentityMismatch,
    IdentityUnavailable,
    ProfileUnusable,
    ServiceError,
)
from service.identity.base import IdentityAdapter, SessionContext, UserProfile
from service.identity.client import FRESH_CONNECTION
from service.identity.factory import build_adapter
from service.identity.http import HttpAdapter
from service.settings.identity import HttpAdapterConfig, IdentityConfig
from service.settings.model import describe
from tests.support.host_app import (
    ADA_BEARER,
    ADA_COOKIE,
    GRACE_BEARER,
    GRACE_COOKIE,
    SERVICE_TOKEN,
    HostPlatform,
    serve,
)

HOST = "http://host.test"
SECRETS = (SERVICE_TOKEN, ADA_COOKIE, ADA_BEARER, GRACE_COOKIE, GRACE_BEARER)

FIELDS = {
    "first_name": "profile.first_name",
    "last_name": "profile.last_name",
    "title": "profile.title",
    "groups": "roles",
    "timezone": "tz",
}
BASE: dict[str, Any] = {
    "session_url": f"{HOST}/api/me",
    "user_url": f"{HOST}/api/users/{{user_id}}",
    "forward_cookies": ["host_session"],
    "forward_headers": ["authorization"],
    "token": SERVICE_TOKEN,
    "fields": FIELDS,
    "attributes": {"company": "company.name"},
}

ADA_PROFILE = UserProfile(
    id="42",
    email="ada@example.com",
    first_name="Ada",
    last_name="Lovelace",
    title="Analyst",
    locale="fr-FR",
    timezone="Europe/Paris",
    groups=["staff", "7"],
    attributes={"company": "X"},
)
GRACE_PROFILE = UserProfile(
    id="43",
    email="grace@example.com",
    first_name="Grace",
    last_name="Hopper",
    locale="en-US",
    timezone="America/New_York",
    groups=["admiral"],
    attributes={"company": "Navy"},
)
# A plain user in the shape of the default field names, for the fault tests.
PLAIN = {"id": 7, "email": "p@example.com", "first_name": "P", "last_name": "Q"}

ADA_SESSION = SessionContext(
    cookies={"host_session": ADA_COOKIE, "tracking": "track-me"},
    headers={"authorization": f"Bearer {ADA_BEARER}"},
)


def config(**overrides: Any) -> HttpAdapterConfig:
    return HttpAdapterConfig.model_validate({**BASE, **overrides})


def assert_safe(exc: ServiceError) -> None:
    """No secret in the message, the errors, or a chained exception."""
    texts = [str(exc), exc.detail, repr(getattr(exc, "errors", None))]
    for secret in SECRETS:
        assert all(secret not in text for text in texts), (secret, texts)
    assert exc.__cause__ is None
    assert exc.__context__ is None or exc.__suppress_context__


@pytest.fixture
def host() -> HostPlatform:
    return HostPlatform()


@pytest.fixture
async def http(host: HostPlatform) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(host) as client:
        yield client


# --- a transport that fails on demand -----------------------------------------------

Step = Callable[[httpx.Request], httpx.Response]


class Faulty:
    """A ``MockTransport`` playing ``steps`` in turn; the last one repeats."""

    def __init__(self, *steps: Step) -> None:
        self.steps = steps
        self.requests: list[httpx.Request] = []

    @property
    def calls(self) -> int:
        return len(self.requests)

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.steps[min(len(self.requests), len(self.steps)) - 1](request)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handler))


def reply(status: int = 200, body: Any = PLAIN, **headers: str) -> Step:
    def step(request: httpx.Request) -> httpx.Response:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return httpx.Response(status, content=content, headers=headers)

    return step


def streamed(body: bytes, chunk: int = 100, counter: list[int] | None = None) -> Step:
    """A body sent in chunks, without a Content-Length; ``counter`` counts chunks read."""

    def step(request: httpx.Request) -> httpx.Response:
        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(body), chunk):
                if counter is not None:
                    counter.append(1)
                yield body[start : start + chunk]

        return httpx.Response(200, content=chunks())

    return step


def fail(error: type[httpx.HTTPError], message: str = "") -> Step:
    def step(request: httpx.Request) -> httpx.Response:
        raise error(message, request=request)  # type: ignore[call-arg]

    return step


def plain_config(**overrides: Any) -> HttpAdapterConfig:
    """Default field names (the PLAIN user), a small size cap."""
    data = {**BASE, "fields": {}, "attributes": {}, "max_response_bytes": 1024}
    return HttpAdapterConfig.model_validate({**data, **overrides})


async def call(adapter: HttpAdapter, what: str) -> UserProfile | None:
    if what == "session":
        return await adapter.resolve_session(ADA_SESSION)
    return await adapter.fetch_user("7")


# --- sessions against the host platform --------------------------------------------


async def test_session_by_cookie_maps_the_nested_profile(
    host: HostPlatform, http: httpx.AsyncClient
) -> None:
    adapter = HttpAdapter(config(), http)
    user = await adapter.resolve_session(SessionContext(cookies={"host_session": ADA_COOKIE}))
    assert user == ADA_PROFILE
    assert host.paths() == ["/api/me"]


async def test_session_by_bearer_header(host: HostPlatform, http: httpx.AsyncClient) -> None:
    adapter = HttpAdapter(config(forward_cookies=[]), http)
    ctx = SessionContext(headers={"authorization": f"Bearer {GRACE_BEARER}"})
    assert await adapter.resolve_session(ctx) == GRACE_PROFILE
    (received,) = host.received
    assert received.headers["authorization"] == f"Bearer {GRACE_BEARER}"
    assert "cookie" not in received.headers


async def test_session_forwards_only_the_configured_cookies_and_headers(
    host: HostPlatform, http: httpx.AsyncClient
) -> None:
    adapter = HttpAdapter(config(forward_cookies=["host_session", "host_csrf"]), http)
    ctx = SessionContext(
        cookies={
            "host_session": ADA_COOKIE,
            "host_csrf": "csrf-1",
            "tracking": "track-me",
            "spot_sso": "ours",
        },
        headers={
            "authorization": "Bearer not-a-session",
            "x-other": "other",
            "cookie": "tracking=track-me; host_session=x",
            "x-forwarded-for": "10.0.0.1",
        },
    )
    assert await adapter.resolve_session(ctx) == ADA_PROFILE
    (received,) = host.received
    assert received.cookies == {"host_csrf": "csrf-1", "host_session": ADA_COOKIE}
    assert received.headers["cookie"] == f"host_csrf=csrf-1; host_session={ADA_COOKIE}"
    assert received.headers["authorization"] == "Bearer not-a-session"
    sent = set(received.headers) - {"host", "accept-encoding", "connection"}
    assert sent == {"accept", "user-agent", "cookie", "authorization"}
    assert all(SERVICE_TOKEN not in value for value in received.headers.values())


async def test_session_with_cookies_only_sends_no_browser_header(
    host: HostPlatform, http: httpx.AsyncClient
) -> None:
    adapter = HttpAdapter(config(forward_headers=[]), http)
    assert await adapter.resolve_session(ADA_SESSION) == ADA_PROFILE
    (received,) = host.received
    assert "authorization" not in received.headers
    assert received.cookies == {"host_session": ADA_COOKIE}


async def test_accept_and_user_agent(host: HostPlatform, http: httpx.AsyncClient) -> None:
    adapter = HttpAdapter(config(), http)
    await adapter.resolve_session(ADA_SESSION)
    await adapter.fetch_user("42")
    for received in host.received:
        assert received.headers["accept"] == "application/json"
        assert received.headers["user-agent"] == f"spot-sso/{__version__}"
        assert received.method == "GET"


@pytest.mark.parametrize(
    "ctx",
    [
        pytest.param(SessionContext(cookies={"host_session": "expired"}), id="unknown-cookie"),
        pytest.param(SessionContext(headers={"authorization": "Bearer nope"}), id="bad-bearer"),
        pytest.param(SessionContext(headers={"authorization": "Basic abc"}), id="basic-auth"),
    ],
)
async def test_session_refused_by_the_host_is_none(
    host: HostPlatform, http: httpx.AsyncClient, ctx: SessionContext
) -> None:
    adapter = HttpAdapter(config(), http)
    assert await adapter.resolve_session(ctx) is None
    assert len(host.received) == 1


@pytest.mark.parametrize("status", [401, 403, 404])
async def test_session_not_logged_in_statuses(status: int) -> None:
    faulty = Faulty(reply(status, {"error": "who are you"}))
    async with faulty.client() as client:
        adapter = HttpAdapter(plain_config(), client)
        assert await adapter.resolve_session(ADA_SESSION) is None
    assert faulty.calls == 1


# Values that could rewrite the call to the host: never sent, whatever the name.
UNSAFE_VALUES = {
    "cookie-crlf": "abc\r\nGET /api/me HTTP/1.1",
    "cookie-semicolon": "abc; is_admin=1",
    "cookie-space": "a b",
    "cookie-quote": 'a"b',
    "cookie-comma": "a,b",
    "cookie-backslash": "a\\b",
    "cookie-nul": "a\x00b",
    "cookie-latin-1": "caf\u00e9",
    "cookie-u2028": "\u2028",
    "header-crlf": "Bearer a\r\nX: y",
    "header-control": "Bearer \x01",
    "header-latin-1": "Bearer caf\u00e9",
    "header-tab": "\t",
}
UNSAFE_SESSIONS = [
    pytest.param(
        SessionContext(cookies={"host_session": value})
        if case.startswith("cookie")
        else SessionContext(headers={"authorization": value}),
        id=case,
    )
    for case, value in UNSAFE_VALUES.items()
]


@pytest.mark.parametrize(
    "ctx",
    [
        pytest.param(SessionContext(), id="nothing"),
        pytest.param(SessionContext(cookies={"tracking": "t", "other": "o"}), id="other-cookies"),
        pytest.param(SessionContext(headers={"x-other": "o", "cookie": "a=b"}), id="other-headers"),
        *UNSAFE_SESSIONS,
    ],
)
async def test_session_without_forwarded_credentials_makes_no_call(ctx: SessionContext) -> None:
    faulty = Faulty(reply())
    async with faulty.client() as client:
        adapter = HttpAdapter(plain_config(), client)
        assert await adapter.resolve_session(ctx) is None
    assert faulty.calls == 0


async def test_no_session_url_means_no_session() -> None:
    faulty = Faulty(reply())
    async with faulty.client() as client:
        adapter = HttpAdapter(plain_config(session_url=None), client)
        assert await adapter.resolve_session(ADA_SESSION) is None
    assert faulty.calls == 0


# --- lookups against the host platform ---------------------------------------------


async def test_lookup_maps_the_profile_and_sends_the_service_token(
    host: HostPlatform, http: httpx.AsyncClient
) -> None:
    adapter = HttpAdapter(config(), http)
    assert await adapter.fetch_user("42") == ADA_PROFILE
    assert await adapter.fetch_user("43") == GRACE_PROFILE
    for received in host.received:
        assert received.headers["authorization"] == f"Bearer {SERVICE_TOKEN}"
        assert "cookie" not in received.headers
    assert host.paths() == ["/api/users/42", "/api/users/43"]


@pytest.mark.parametrize(
    ("auth_header", "auth_scheme", "sent_as", "value"),
    [
        ("Authorization", "Bearer", "authorization", f"Bearer {SERVICE_TOKEN}"),
        ("X-Api-Token", "", "x-api-token", SERVICE_TOKEN),
        ("Authorization", "Token", "authorization", f"Token {SERVICE_TOKEN}"),
    ],
)
async def test_lookup_credential_header(
    auth_header: str, auth_scheme: str, sent_as: str, value: str
) -> None:
    host = HostPlatform(service_header=sent_as, service_scheme=auth_scheme)
    async with serve(host) as client:
        adapter = HttpAdapter(config(auth_header=auth_header, auth_scheme=auth_scheme), client)
        assert await adapter.fetch_user("42") == ADA_PROFILE
    (received,) = host.received
    assert received.headers[sent_as] == value
    others = {"authorization", "x-api-token"} - {sent_as}
    assert not others & set(received.headers)


@pytest.mark.parametrize(
    ("user_id", "raw_path", "found"),
    [
        ("42", "/api/users/42", True),
        ("a/b?c d", "/api/users/a%2Fb%3Fc%20d", True),
        ("%41", "/api/users/%2541", False),
        ("é#x", "/api/users/%C3%A9%23x", False),
        ("nobody", "/api/users/nobody", False),
    ],
)
async def test_lookup_user_id_is_one_encoded_path_segment(
    host: HostPlatform, http: httpx.AsyncClient, user_id: str, raw_path: str, found: bool
) -> None:
    adapter = HttpAdapter(config(), http)
    user = await adapter.fetch_user(user_id)
    assert (user is not None) == found
    if user is not None:
        assert user.id == ("42" if user_id == "42" else user_id)
    (received,) = host.received
    assert received.raw_path == raw_path
    assert received.query == ""


@pytest.mark.parametrize("user_id", ["..", "."])
async def test_lookup_dot_segments_stay_under_the_user_url(
    host: HostPlatform, http: httpx.AsyncClient, user_id: str
) -> None:
    adapter = HttpAdapter(config(), http)
    await adapter.fetch_user(user_id)
    assert all(path.startswith("/api/users/") for path in host.paths()), host.paths()


@pytest.mark.parametrize(
    ("token", "status"),
    [(None, 401), ("wrong-token-value", 403)],
)
async def test_lookup_refused_credential_is_a_bad_response(
    http: httpx.AsyncClient, token: str | None, status: int
) -> None:
    adapter = HttpAdapter(config(token=token), http)
    with pytest.raises(IdentityBadResponse) as caught:
        await adapter.fetch_user("42")
    assert caught.value.status == 502
    assert f"answered HTTP {status}" in caught.value.detail
    assert "host.test" in caught.value.detail
    assert_safe(caught.value)


async def test_lookup_of_an_unknown_user_is_none(
    host: HostPlatform, http: httpx.AsyncClient
) -> None:
    adapter = HttpAdapter(config(), http)
    assert await adapter.fetch_user("nobody") is None
    assert len(host.received) == 1


async def test_lookup_without_user_url() -> None:
    faulty = Faulty(reply())
    async with faulty.client() as client:
        adapter = HttpAdapter(plain_config(user_url=None), client)
        with pytest.raises(IdentityUnavailable) as caught:
            await adapter.fetch_user("7")
    assert type(caught.value) is IdentityUnavailable
    assert caught.value.status == 503
    assert "no user_url" in caught.value.detail
    assert faulty.calls == 0


@pytest.mark.parametrize("what", ["session", "lookup"])
async def test_profile_path(what: str) -> None:
    host = HostPlatform(wrap="data.user")
    async with serve(host) as client:
        adapter = HttpAdapter(config(profile_path="data.user"), client)
        if what == "session":
            user = await adapter.resolve_session(ADA_SESSION)
        else:
            user = await adapter.fetch_user("42")
    assert user == ADA_PROFILE


async def test_profile_path_that_is_not_there(http: httpx.AsyncClient) -> None:
    adapter = HttpAdapter(config(profile_path="data.user"), http)
    with pytest.raises(IdentityBadResponse, match="no profile object") as caught:
        await adapter.fetch_user("42")
    assert_safe(caught.value)


async def test_missing_required_fields_name_the_host_paths(http: httpx.AsyncClient) -> None:
    adapter = HttpAdapter(config(), http)
    with pytest.raises(ProfileUnusable) as caught:
        await adapter.fetch_user("incomplete")
    error = caught.value
    assert error.status == 502
    assert {e.pointer for e in error.errors} == {"/email", "/profile/first_name"}
    assert "email" in error.detail
    assert "profile.first_name" in error.detail
    assert_safe(error)


# --- field mapping -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "overrides", "expected"),
    [
        pytest.param({**PLAIN, "id": 42}, {}, {"id": "42"}, id="int-id"),
        pytest.param({**PLAIN, "id": 4.5}, {}, {"id": "4.5"}, id="float-id"),
        pytest.param({**PLAIN, "id": "u-1"}, {}, {"id": "u-1"}, id="str-id"),
        pytest.param(
            {**PLAIN, "groups": ["a", 7, None, {"x": 1}, 2.5, ["b"]]},
            {},
            {"groups": ["a", "7"]},
            id="groups-mixed",
        ),
        pytest.param({**PLAIN, "groups": "solo"}, {}, {"groups": ["solo"]}, id="groups-str"),
        pytest.param({**PLAIN, "groups": {"a": 1}}, {}, {"groups": []}, id="groups-object"),
        pytest.param(PLAIN, {}, {"groups": [], "title": None, "attributes": {}}, id="absent"),
        pytest.param({**PLAIN, "title": None}, {}, {"title": None}, id="null-title"),
        pytest.param(
            {**PLAIN, "emails": [{"address": "first@example.com"}, {"address": "x"}]},
            {"fields": {"email": "emails.0.address"}},
            {"email": "first@example.com"},
            id="list-index",
        ),
        pytest.param(
            {**PLAIN, "org": {"name": "X", "size": 3}, "flag": None},
            {"attributes": {"org": "org", "size": "org.size", "flag": "flag", "gone": "no.pe"}},
            {"attributes": {"org": {"name": "X", "size": 3}, "size": 3, "flag": None}},
            id="attributes",
        ),
        pytest.param(
            {**PLAIN, "tz": "Europe/Paris", "lang": "fr"},
            {"fields": {"timezone": "tz", "locale": "lang"}},
            {"timezone": "Europe/Paris", "locale": "fr"},
            id="renamed",
        ),
    ],
)
async def test_field_mapping(
    body: dict[str, Any], overrides: dict[str, Any], expected: dict[str, Any]
) -> None:
    faulty = Faulty(reply(200, body))
    async with faulty.client() as client:
        adapter = HttpAdapter(plain_config(**overrides), client)
        user = await adapter.fetch_user(expected.get("id", "7"))
    assert user is not None
    assert {name: getattr(user, name) for name in expected} == expected


@pytest.mark.parametrize(
    ("body", "pointers"),
    [
        pytest.param({**PLAIN, "email": None}, {"/email"}, id="null-email"),
        pytest.param({k: v for k, v in PLAIN.items() if k != "email"}, {"/email"}, id="no-email"),
        pytest.param({**PLAIN, "id": ""}, {"/id"}, id="empty-id"),
        pytest.param({**PLAIN, "id": True}, {"/id"}, id="bool-id"),
        pytest.param({**PLAIN, "first_name": {"x": 1}}, {"/first_name"}, id="object-name"),
        pytest.param({"id": 1}, {"/email", "/first_name", "/last_name"}, id="bare"),
    ],
)
async def test_unusable_profiles(body: dict[str, Any], pointers: set[str]) -> None:
    faulty = Faulty(reply(200, body))
    async with faulty.client() as client:
        with pytest.raises(ProfileUnusable) as caught:
            await HttpAdapter(plain_config(), client).fetch_user("7")
    assert {e.pointer for e in caught.value.errors} == pointers
    assert_safe(caught.value)


# --- faults --------------------------------------------------------------------------

BIG = json.dumps({**PLAIN, "pad": "x" * 2000}).encode()

FAULTS = [
    pytest.param(reply(500, {"e": 1}), IdentityBadResponse, "answered HTTP 500", 1, id="500"),
    pytest.param(reply(503, {"e": 1}), IdentityBadResponse, "answered HTTP 503", 1, id="503"),
    pytest.param(reply(204, b""), IdentityBadResponse, "answered HTTP 204", 1, id="204"),
    pytest.param(
        reply(302, b"", location="http://host.test/login"),
        IdentityBadResponse,
        "answered HTTP 302",
        1,
        id="redirect",
    ),
    pytest.param(reply(200, b"not json{"), IdentityBadResponse, "invalid JSON", 1, id="bad-json"),
    pytest.param(reply(200, b""), IdentityBadResponse, "invalid JSON", 1, id="empty-body"),
    pytest.param(
        reply(200, b'{"id": "\xff\xfe"}'), IdentityBadResponse, "invalid JSON", 1, id="bad-utf8"
    ),
    pytest.param(reply(200, BIG), IdentityBadResponse, "larger than 1024", 1, id="big-declared"),
    pytest.param(streamed(BIG), IdentityBadResponse, "larger than 1024", 1, id="big-streamed"),
    pytest.param(
        fail(httpx.ConnectError, "[Errno 111] Connection refused"),
        IdentityUnavailable,
        "cannot connect",
        2,
        id="connect-error",
    ),
    pytest.param(
        fail(httpx.ReadTimeout), IdentityUnavailable, "timed out (waiting for the answer)", 1,
        id="read-timeout",
    ),
    pytest.param(
        fail(httpx.ConnectTimeout), IdentityUnavailable, "timed out (connecting)", 1,
        id="connect-timeout",
    ),
    pytest.param(
        fail(httpx.PoolTimeout), IdentityUnavailable, "timed out (waiting for a free", 1,
        id="pool-timeout",
    ),
    pytest.param(
        fail(httpx.RemoteProtocolError, "peer closed connection"),
        IdentityBadResponse,
        "answer is not valid HTTP (peer closed connection)",
        1,
        id="protocol-error",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("what", "named"), [("session", "session"), ("lookup", "user lookup")])
@pytest.mark.parametrize(("step", "error", "message", "calls"), FAULTS)
async def test_faults(
    what: str, named: str, step: Step, error: type[ServiceError], message: str, calls: int
) -> None:
    faulty = Faulty(step)
    async with faulty.client() as client:
        adapter = HttpAdapter(plain_config(), client)
        with pytest.raises(IdentityUnavailable) as caught:
            await call(adapter, what)
    exc = caught.value
    assert type(exc) is error
    assert exc.status == (502 if error is IdentityBadResponse else 503)
    assert message in exc.detail
    assert exc.detail.startswith("host.test: ")
    assert f"the {named}" in exc.detail
    assert faulty.calls == calls
    assert_safe(exc)


@pytest.mark.parametrize("what", ["session", "lookup"])
@pytest.mark.parametrize(
    "body", [b"[1, 2]", b"null", b'"text"', b"42", b"[]"], ids=["array", "null", "str", "n", "[]"]
)
async def test_answer_that_is_not_an_object(what: str, body: bytes) -> None:
    faulty = Faulty(reply(200, body))
    async with faulty.client() as client:
        with pytest.raises(IdentityBadResponse, match="no profile object") as caught:
            await call(HttpAdapter(plain_config(), client), what)
    assert caught.value.status == 502
    assert_safe(caught.value)


async def test_answer_that_is_not_an_object_names_the_host() -> None:
    faulty = Faulty(reply(200, b"[1, 2]"))
    async with faulty.client() as client:
        with pytest.raises(IdentityBadResponse) as caught:
            await HttpAdapter(plain_config(), client).fetch_user("7")
    assert "host.test" in caught.value.detail


@pytest.mark.parametrize("what", ["session", "lookup"])
async def test_deeply_nested_json_is_a_bad_response(what: str) -> None:
    faulty = Faulty(reply(200, b"[" * 1024))
    async with faulty.client() as client:
        with pytest.raises(IdentityBadResponse):
            await call(HttpAdapter(plain_config(), client), what)


@pytest.mark.parametrize(
    "make", [lambda body: reply(200, body), streamed], ids=["declared", "streamed"]
)
async def test_body_of_exactly_the_limit_is_read(make: Callable[[bytes], Step]) -> None:
    body = json.dumps({**PLAIN, "pad": ""}).encode()
    body = json.dumps({**PLAIN, "pad": "x" * (1024 - len(body))}).encode()
    assert len(body) == 1024
    faulty = Faulty(make(body))
    async with faulty.client() as client:
        user = await HttpAdapter(plain_config(), client).fetch_user("7")
    assert user is not None
    assert user.id == "7"


async def test_declared_length_alone_refuses_the_body() -> None:
    def step(request: httpx.Request) -> httpx.Response:
        small = httpx.ByteStream(json.dumps(PLAIN).encode())
        return httpx.Response(200, headers={"content-length": "5000"}, stream=small)

    faulty = Faulty(step)
    async with faulty.client() as client:
        with pytest.raises(IdentityBadResponse, match="larger than 1024 bytes"):
            await HttpAdapter(plain_config(), client).fetch_user("7")


async def test_streamed_body_reading_stops_at_the_limit() -> None:
    chunks: list[int] = []
    faulty = Faulty(streamed(b"x" * 100_000, chunk=100, counter=chunks))
    async with faulty.client() as client:
        with pytest.raises(IdentityBadResponse, match="larger than 1024 bytes"):
            await HttpAdapter(plain_config(), client).fetch_user("7")
    assert len(chunks) <= 12


@pytest.mark.parametrize("what", ["session", "lookup"])
async def test_one_retry_after_a_connect_error(what: str) -> None:
    faulty = Faulty(fail(httpx.ConnectError, "refused"), reply())
    async with faulty.client() as client:
        user = await call(HttpAdapter(plain_config(), client), what)
    assert user is not None
    assert faulty.calls == 2
    first, second = faulty.requests
    assert first.url == second.url
    assert first.headers == second.headers


@pytest.mark.parametrize("what", ["session", "lookup"])
async def test_no_retry_when_disabled(what: str) -> None:
    faulty = Faulty(fail(httpx.ConnectError, "refused"), reply())
    async with faulty.client() as client:
        adapter = HttpAdapter(plain_config(retry_on_connect_error=False), client)
        with pytest.raises(IdentityUnavailable, match="cannot connect") as caught:
            await call(adapter, what)
    assert type(caught.value) is IdentityUnavailable
    assert faulty.calls == 1


async def test_configured_timeouts_reach_the_transport() -> None:
    faulty = Faulty(reply())
    async with faulty.client() as client:
        adapter = HttpAdapter(
            plain_config(connect_timeout_seconds=1.5, read_timeout_seconds=3), client
        )
        await adapter.fetch_user("7")
    timeout = faulty.requests[0].extensions["timeout"]
    assert timeout["connect"] == 1.5
    assert timeout["read"] == 3


async def test_host_with_a_port_is_named_with_it() -> None:
    faulty = Faulty(fail(httpx.ConnectError, "refused"))
    async with faulty.client() as client:
        adapter = HttpAdapter(
            plain_config(user_url="http://host.test:8443/api/users/{user_id}"), client
        )
        with pytest.raises(IdentityUnavailable, match=r"host\.test:8443: cannot connect"):
            await adapter.fetch_user("7")


async def test_credentials_in_the_url_are_not_shown() -> None:
    faulty = Faulty(fail(httpx.ConnectError, "refused"))
    async with faulty.client() as client:
        adapter = HttpAdapter(
            plain_config(user_url="http://admin:hunter2@host.test/api/users/{user_id}"), client
        )
        with pytest.raises(IdentityUnavailable) as caught:
            await adapter.fetch_user("7")
        ready = await adapter.ready()
    assert "hunter2" not in caught.value.detail
    assert "hunter2" not in json.dumps(ready)


async def test_cookies_set_by_the_host_are_not_replayed() -> None:
    host = HostPlatform(set_cookie=f"host_session={ADA_COOKIE}; Path=/")
    async with serve(host) as client:
        adapter = HttpAdapter(config(user_cache_ttl_seconds=0), client)
        assert await adapter.resolve_session(ADA_SESSION) == ADA_PROFILE
        await adapter.fetch_user("43")
        grace = SessionContext(headers={"authorization": f"Bearer {GRACE_BEARER}"})
        user = await adapter.resolve_session(grace)
    assert user == GRACE_PROFILE, "Grace's session call was resolved as Ada"
    assert [r.cookies for r in host.received[1:]] == [{}, {}]


# --- caches --------------------------------------------------------------------------


@pytest.mark.parametrize(("ttl", "calls"), [(30, 1), (0, 2)])
async def test_user_cache(
    host: HostPlatform, http: httpx.AsyncClient, ttl: float, calls: int
) -> None:
    adapter = HttpAdapter(config(user_cache_ttl_seconds=ttl), http)
    first = await adapter.fetch_user("42")
    second = await adapter.fetch_user("42")
    assert first == second == ADA_PROFILE
    assert len(host.received) == calls
    assert await adapter.ready() == {}  # readiness names no host


async def test_the_memory_cache_keeps_the_profile_itself(
    host: HostPlatform, http: httpx.AsyncClient
) -> None:
    """A hit answers the profile validated when the host sent it: not parsed again."""
    adapter = HttpAdapter(config(user_cache_ttl_seconds=30), http)
    first = await adapter.fetch_user("42")
    with mock.patch.object(UserProfile, "model_validate_json", side_effect=AssertionError):
        assert await adapter.fetch_user("42") is first
    assert first is not None and first.model_config.get("frozen")  # shared, so never changed


async def test_user_cache_is_per_user_and_skips_unknown_users(
    host: HostPlatform, http: httpx.AsyncClient
) -> None:
    adapter = HttpAdapter(config(), http)
    for user_id in ("42", "43", "42", "43", "nobody", "nobody"):
        await adapter.fetch_user(user_id)
    assert host.paths() == ["/api/users/42", "/api/users/43"] + ["/api/users/nobody"] * 2


async def test_session_cache_is_off_by_default(host: HostPlatform, http: httpx.AsyncClient) -> None:
    adapter = HttpAdapter(config(), http)
    for _ in range(3):
        assert await adapter.resolve_session(ADA_SESSION) == ADA_PROFILE
    assert len(host.received) == 3


async def test_session_cache_per_forwarded_cookie_value(
    host: HostPlatform, http: httpx.AsyncClient
) -> None:
    adapter = HttpAdapter(config(session_cache_ttl_seconds=60, forward_headers=[]), http)

    def ctx(value: str, tracking: str = "t") -> SessionContext:
        return SessionContext(cookies={"host_session": value, "tracking": tracking})

    assert await adapter.resolve_session(ctx(ADA_COOKIE)) == ADA_PROFILE
    assert await adapter.resolve_session(ctx(ADA_COOKIE, tracking="other")) == ADA_PROFILE
    assert len(host.received) == 1
    assert await adapter.resolve_session(ctx(GRACE_COOKIE)) == GRACE_PROFILE
    assert await adapter.resolve_session(ctx(ADA_COOKIE)) == ADA_PROFILE
    assert await adapter.resolve_session(ctx(GRACE_COOKIE)) == GRACE_PROFILE
    assert len(host.received) == 2
    # "Not logged in" is never cached.
    assert await adapter.resolve_session(ctx("expired")) is None
    assert await adapter.resolve_session(ctx("expired")) is None
    assert len(host.received) == 4


async def test_session_and_user_caches_are_separate(
    host: HostPlatform, http: httpx.AsyncClient
) -> None:
    adapter = HttpAdapter(config(session_cache_ttl_seconds=60), http)
    await adapter.resolve_session(ADA_SESSION)
    await adapter.fetch_user("42")
    assert host.paths() == ["/api/me", "/api/users/42"]


# --- login redirect, forwarded names, readiness ------------------------------------


def test_login_redirect_encodes_return_to(http: httpx.AsyncClient) -> None:
    adapter = HttpAdapter(
        config(login_url="https://host.test/login?next={return_to}&lang=fr"),
        http,
    )
    target = adapter.login_redirect("http://127.0.0.1:8000/authorize?redirectUrl=x&y=1")
    assert target == (
        "https://host.test/login?next="
        "http%3A%2F%2F127.0.0.1%3A8000%2Fauthorize%3FredirectUrl%3Dx%26y%3D1&lang=fr"
    )


def test_no_login_url_no_redirect(http: httpx.AsyncClient) -> None:
    adapter = HttpAdapter(config(), http)
    assert adapter.login_redirect("http://127.0.0.1:8000/authorize") is None


def test_forwarded_names(http: httpx.AsyncClient) -> None:
    adapter = HttpAdapter(
        config(forward_cookies="host_session, host_csrf", forward_headers=["X-Session-Token"]),
        http,
    )
    assert adapter.forwarded_cookies() == {"host_session", "host_csrf"}
    assert adapter.forwarded_headers() == {"x-session-token"}
    assert isinstance(adapter, IdentityAdapter)


# --- configuration ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"user_url": f"{HOST}/api/users/me"}, "user_url must contain {user_id}"),
        ({"login_url": f"{HOST}/login"}, "login_url must contain {return_to}"),
        ({"session_url": None, "user_url": None}, "set session_url, user_url or both"),
        (
            {"forward_cookies": [], "forward_headers": []},
            "session_url needs forward_cookies or forward_headers",
        ),
        ({"forward_headers": ["Host"]}, "cannot be forwarded"),
        ({"forward_headers": ["authorization", "content-length"]}, "cannot be forwarded"),
        ({"forward_headers": ["CONNECTION"]}, "cannot be forwarded"),
        ({"session_url": "ftp://host.test/api/me"}, "must be an absolute http(s) URL"),
        ({"user_url": "/api/users/{user_id}"}, "must be an absolute http(s) URL"),
        ({"login_url": "host.test/login?r={return_to}"}, "must be an absolute http(s) URL"),
        ({"session_url": "http:///api/me"}, "must be an absolute http(s) URL"),
        ({"max_response_bytes": 100}, "greater than or equal to 1024"),
        ({"read_timeout_seconds": 0}, "greater than 0"),
        ({"session_cache_ttl_seconds": 301}, "less than or equal to 300"),
        ({"tokn": "x"}, "Extra inputs are not permitted"),
        ({"fields": {"mail": "email"}}, "Extra inputs are not permitted"),
    ],
)
def test_config_refused(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        config(**overrides)
    problems = describe(caught.value, env=False)
    assert any(message in problem for problem in problems), problems
    assert all(SERVICE_TOKEN not in problem for problem in problems)


def test_token_file(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text(f"{SERVICE_TOKEN}\n")
    loaded = config(token=None, token_file=str(path))
    assert loaded.token is not None
    assert loaded.token.get_secret_value() == SERVICE_TOKEN
    assert SERVICE_TOKEN not in repr(loaded)


def test_missing_token_file(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as caught:
        config(token_file=str(tmp_path / "absent"))
    (problem,) = describe(caught.value, env=False)
    assert f"token_file: cannot read {tmp_path / 'absent'} (No such file or directory)" in problem


async def test_build_adapter_from_identity_config(host: HostPlatform) -> None:
    identity = IdentityConfig.model_validate({"adapter": "http", "http": BASE})
    async with serve(host) as client:
        adapter = build_adapter(identity, client)
        assert isinstance(adapter, HttpAdapter)
        assert await adapter.fetch_user("42") == ADA_PROFILE
        assert await adapter.resolve_session(ADA_SESSION) == ADA_PROFILE


def test_http_adapter_needs_its_table() -> None:
    with pytest.raises(ValidationError) as caught:
        IdentityConfig(adapter="http")
    assert "needs an [identity.http] table" in str(caught.value)


# --- defence in depth: what goes to the host, what comes back ---------------------------


async def test_plain_cookie_and_header_values_are_sent_as_they_are() -> None:
    faulty = Faulty(reply())
    cookie = "!#$%&'()*+-./09:<=>?@AZ[]^_`az{|}~"
    async with faulty.client() as client:
        adapter = HttpAdapter(plain_config(), client)
        session = SessionContext(
            cookies={"host_session": cookie}, headers={"authorization": 'Bearer a b"c;d'}
        )
        assert await adapter.resolve_session(session) is not None
    sent = faulty.requests[0]
    assert sent.headers["cookie"] == f"host_session={cookie}"
    assert sent.headers["authorization"] == 'Bearer a b"c;d'


async def test_session_calls_ask_for_a_fresh_connection_lookups_do_not() -> None:
    faulty = Faulty(reply())
    async with faulty.client() as client:
        adapter = HttpAdapter(plain_config(), client)
        await adapter.resolve_session(ADA_SESSION)
        await adapter.fetch_user("7")
    assert [r.extensions.get(FRESH_CONNECTION) for r in faulty.requests] == [True, None]


async def test_a_lookup_answered_with_another_users_profile_is_refused_and_not_cached() -> None:
    faulty = Faulty(reply(200, {**PLAIN, "id": "8"}), reply(200, PLAIN))
    async with faulty.client() as client:
        adapter = HttpAdapter(plain_config(user_cache_ttl_seconds=60), client)
        with pytest.raises(IdentityMismatch) as caught:
            await adapter.fetch_user("7")
        assert (await adapter.fetch_user("7")).id == "7"  # asked again: nothing was cached
        assert (await adapter.fetch_user("7")).id == "7"  # then cached
    assert faulty.calls == 2
    assert caught.value.status == 502 and caught.value.slug == "identity-bad-response"
    assert "profile of another" in caught.value.detail
    assert_safe(caught.value)


@pytest.mark.parametrize("asked", ["U-1", "u-1 ", "01", "u-1\u200b"])
async def test_the_id_must_match_exactly(asked: str) -> None:
    faulty = Faulty(reply(200, {**PLAIN, "id": "u-1" if asked != "01" else 1}))
    async with faulty.client() as client:
        adapter = HttpAdapter(plain_config(), client)
        with pytest.raises(IdentityMismatch):
            await adapter.fetch_user(asked)


@pytest.mark.parametrize(
    ("user_id", "segment"),
    [
        ("u-1_a", "u-1_a"),
        ("a.b", "a%2Eb"),
        ("..", "%2E%2E"),
        ("../admin", "%2E%2E%2Fadmin"),
        ("a/b", "a%2Fb"),
        ("a%2Fb", "a%252Fb"),
        ("a~b", "a%7Eb"),
        ("ada@example.com", "ada%40example%2Ecom"),
        ("a?b#c", "a%3Fb%23c"),
        ("a b+c", "a%20b%2Bc"),
        ("é", "%C3%A9"),
        ("a;b=c", "a%3Bb%3Dc"),
        ("a\\b", "a%5Cb"),
    ],
)
async def test_user_ids_are_one_conservatively_encoded_path_segment(
    user_id: str, segment: str
) -> None:
    faulty = Faulty(lambda request: reply(200, {**PLAIN, "id": user_id})(request))
    async with faulty.client() as client:
        await HttpAdapter(plain_config(), client).fetch_user(user_id)
    assert faulty.requests[0].url.raw_path.decode() == f"/api/users/{segment}"


async def test_a_host_that_dribbles_is_cut_off_at_the_total_deadline() -> None:
    async def dribble() -> AsyncIterator[bytes]:
        for byte in json.dumps(PLAIN).encode():
            await asyncio.sleep(0.05)
            yield bytes([byte])

    faulty = Faulty(lambda request: httpx.Response(200, content=dribble()))
    async with faulty.client() as client:
        adapter = HttpAdapter(plain_config(total_timeout_seconds=0.3), client)
        with pytest.raises(IdentityUnavailable) as caught:
            await adapter.fetch_user("7")
    assert type(caught.value) is IdentityUnavailable
    assert "took longer than 0.3 s (total_timeout_seconds)" in caught.value.detail


async def test_the_deadline_covers_the_retry_too() -> None:
    async def refuse_slowly(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.2)
        raise httpx.ConnectError("refused", request=request)

    calls: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return await refuse_slowly(request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        adapter = HttpAdapter(plain_config(total_timeout_seconds=0.3), client)
        with pytest.raises(IdentityUnavailable, match=r"took longer than 0\.3 s"):
            await adapter.fetch_user("7")
    assert len(calls) == 2  # the retry began, and the deadline ended it
