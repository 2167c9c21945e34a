"""The app's own OpenAPI document, fuzzed by Schemathesis in process over ASGI.

Every operation gets a fixed number of examples, derandomized so a run repeats exactly,
with a valid API key and without one; every answer must be documented (status, media
type, schema) and none may be a 5xx. ``GET /authorize`` then gets a pass of its own with
query strings built to tempt an open redirect: whatever comes in, a ``Location`` only
ever points at MeltingSpot or at the configured 127.0.0.1 origins.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import jwt
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from service.settings.model import Settings
from service.web.app import create_app
from tests.support.apps import served
from tests.support.settings import (
    BILLING_KEY,
    MAIN_ID,
    MAIN_KEY,
    OTHER_ID,
    OTHER_KEY,
    USERS,
    http_identity,
    make_settings,
)

EXAMPLES = 40
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,  # the same examples on every run: a failure can be replayed
    database=None,
    deadline=None,  # the first call of a test also starts the app
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

# /authorize answers its refusals with HTML pages, by design: their statuses are documented
# without content, so `content_type_conformance` has nothing to hold them to and stays on.
# (Its 422 entry, FastAPI's validation answer, says problem+json, but every parameter is an
# optional string: nothing can fail validation, and the fuzzing never met a 422 there.)
#
# `positive_data_acceptance` is left out on purpose: a body that fits the schema still
# names Spots and users this configuration does not have, and 404/403/422 are then the
# right answers, not a failure. Everything else Schemathesis can judge from one response
# is checked: no 5xx, documented status, documented media type (problem+json for every
# error of /tokens), documented headers, the response schemas, and that data outside the
# schema is refused with a 4xx.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
AUTH = {"Authorization": f"Bearer {BILLING_KEY}", "X-API-Key": BILLING_KEY}


def fuzz_settings(**overrides: Any) -> Settings:
    """The test configuration, rate limits off so every example reaches the code under
    test instead of a 429, and only users whose profiles can make a token (a configured
    user with a broken profile gets a documented 502, which is not what is fuzzed here)."""
    defaults: dict[str, Any] = {
        "limits": {"enabled": False},
        "identity": {"adapter": "static", "static": {"users": USERS[:1]}},
    }
    return make_settings(**{**defaults, **overrides})


@pytest.fixture
def app() -> FastAPI:
    return create_app(fuzz_settings())


@pytest.fixture
def schema(app: FastAPI) -> schemathesis.BaseSchema:
    """The document FastAPI serves at /openapi.json, which is ``app.openapi()``."""
    loaded = schemathesis.openapi.from_asgi("/openapi.json", app, config=schemathesis.Config())
    assert loaded.raw_schema == app.openapi()
    return loaded


FUZZED = [
    # (method, path, mode, with a valid key)
    ("POST", "/tokens", GenerationMode.POSITIVE, True),
    ("POST", "/tokens", GenerationMode.NEGATIVE, True),
    ("POST", "/tokens", GenerationMode.POSITIVE, False),
    ("POST", "/tokens", GenerationMode.NEGATIVE, False),
    ("GET", "/authorize", GenerationMode.POSITIVE, False),
    ("GET", "/authorize", GenerationMode.NEGATIVE, False),
    # No parameters: one example each, and no negative mode (nothing to break).
    ("GET", "/healthz", GenerationMode.POSITIVE, False),
    ("GET", "/readyz", GenerationMode.POSITIVE, False),
    ("GET", "/metrics", GenerationMode.POSITIVE, False),
]


@pytest.mark.parametrize(
    ("method", "path", "mode", "keyed"),
    FUZZED,
    ids=[f"{m} {p} {mode.value} {'key' if k else 'no-key'}" for m, p, mode, k in FUZZED],
)
def test_schemathesis(
    schema: schemathesis.BaseSchema, method: str, path: str, mode: GenerationMode, keyed: bool
) -> None:
    operation = schema[path][method]
    # With a key, both places carry the same valid key, so the generated values never
    # replace it; without, whatever Schemathesis makes of the security schemes is sent.
    strategy = operation.as_strategy(generation_mode=mode, headers=AUTH if keyed else None)
    statuses: Counter[int] = Counter()

    @FUZZ
    @given(case=strategy)
    def fuzz(case: schemathesis.Case[Any]) -> None:
        response = case.call()
        statuses[response.status_code] += 1
        # 413 (a body over max_body_bytes) refuses the data too, but Schemathesis'
        # negative-data check does not count it among rejections.
        checks = CHECKS if response.status_code != 413 else CHECKS[:-1]
        case.validate_response(response, checks=checks)
        if path == "/tokens" and not keyed:
            # The key is checked before anything else is read.
            assert response.status_code == 401, response.text

    fuzz()
    assert statuses, "no example was sent"
    if path == "/tokens" and keyed:
        assert 401 not in statuses, statuses  # the key reached the app in every example


# --- GET /authorize: the Location header never leaves home ----------------------------------

MS = "https://go.meltingspot.io"
SPOT_LOCAL = "http://127.0.0.1:8181"  # a second origin of Spot "main", for a local Spot
HOST = "http://127.0.0.1:8282"  # the host platform, whose login page bounces browsers
HOME = {MS, SPOT_LOCAL, HOST}
USER = {"id": "u-1", "email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace"}


def host(request: httpx.Request) -> httpx.Response:
    """The host platform: the browser holding ``sid=ada`` is Ada; anyone else is nobody."""
    if "sid=ada" in request.headers.get("cookie", "").split("; "):
        return httpx.Response(200, json=USER)
    return httpx.Response(401)


@pytest.fixture
def browser_app() -> FastAPI:
    settings_ = fuzz_settings(
        spots={
            "main": {"redirect_origins": [MS, SPOT_LOCAL], "entry_url": f"{MS}/spot/{MAIN_ID}/sso"}
        },
        identity=http_identity(
            HOST,
            login_url=f"{HOST}/login?next={{return_to}}",
            forward_cookies=["sid"],
            forward_headers=["x-host-session"],
            session_cache_ttl_seconds=0,
        ),
    )
    return create_app(settings_, http=httpx.AsyncClient(transport=httpx.MockTransport(host)))


ORIGINS = [
    MS,
    SPOT_LOCAL,
    HOST,
    "HTTPS://GO.MELTINGSPOT.IO",
    "https://go.meltingspot.io:443",
    "https://go.meltingspot.io.",
    "http://go.meltingspot.io",
    "https://go.meltingspot.io.evil.test",
    "https://evil.test",
    "https://go.meltingspot.io@evil.test",
    "https://evil.test@go.meltingspot.io",
    "https://evil.test\\@go.meltingspot.io",
    "https://evil.test%2F@go.meltingspot.io",
    "https:go.meltingspot.io",
    "https:/go.meltingspot.io",
    "https:///go.meltingspot.io",
    "//go.meltingspot.io",
    "//evil.test",
    "/\\evil.test",
    "https://g\u043e.meltingspot.io",  # a Cyrillic o
    "https://xn--g-ptb.meltingspot.io",
    "http://127.0.0.1:8181.evil.test",
    "http://127.0.0.1:8182",
    "http://127.0.0.1",
    "http://localhost:8181",
    "http://[::1]:8181",
    "http://0x7f.0.0.1:8181",
    "http://2130706433:8181",
    "javascript:alert(1)//",
    "data:text/html,",
    "",
]
TAILS = [
    "",
    "/",
    f"/spot/{MAIN_ID}/sso",
    f"/spot/{OTHER_ID}/sso",
    f"/spot/{MAIN_ID}/sso?token=old&x=1",
    f"/spot/{MAIN_ID}/sso?referrerUrl=/spot/{MAIN_ID}/x",
    "?x=1",
    "#fragment",
    "/%2e%2e/%2e%2e/",
    "//evil.test/",
    "/\\evil.test",
    "@evil.test",
    ".evil.test",
    ":8181",
    "%0d%0aLocation:%20https://evil.test",
    "\r\nLocation: https://evil.test",
    "\t",
]


def pieces(options: list[str]) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(options), st.text(max_size=12))


# A query starts well-formed (so the pass reaches redirects and login bounces), then
# some of its parameters are swapped for tempting or random values, or added twice.
GOOD: dict[str, st.SearchStrategy[str | None]] = {
    "redirectUrl": st.one_of(
        st.none(),
        st.builds(
            lambda origin, tail: origin + tail,
            st.sampled_from([MS, SPOT_LOCAL, "HTTPS://GO.MELTINGSPOT.IO", f"{MS}:443"]),
            st.sampled_from([f"/spot/{MAIN_ID}/sso", f"/spot/{MAIN_ID}/sso?x=1&token=old", "/"]),
        ),
    ),
    "referrerUrl": st.sampled_from([None, f"/spot/{MAIN_ID}", f"/spot/{MAIN_ID}/lives?x=1"]),
    "spot": st.sampled_from([None, "main", MAIN_ID]),
    "afterLogin": st.sampled_from([None, "1"]),
}
BAD: dict[str, st.SearchStrategy[str]] = {
    "redirectUrl": st.builds(
        lambda *parts: "".join(parts), pieces(ORIGINS), pieces(TAILS), pieces(TAILS)
    ),
    "referrerUrl": st.builds(
        lambda head, tail: head + tail,
        st.sampled_from([f"/spot/{MAIN_ID}", f"/spot/{OTHER_ID}", "/spot/", "//", ""]),
        pieces(TAILS),
    ),
    "spot": pieces(["other", OTHER_ID, "nope", "MAIN", ""]),
    "afterLogin": st.text(max_size=4),
    "token": st.text(max_size=12),
}


@st.composite
def authorize_queries(draw: st.DrawFn) -> list[tuple[str, str]]:
    values = {name: draw(strategy) for name, strategy in GOOD.items()}
    for name in draw(st.lists(st.sampled_from(sorted(BAD)), max_size=2, unique=True)):
        values[name] = draw(BAD[name])
    params = [(name, value) for name, value in values.items() if value is not None]
    if params and draw(st.integers(0, 9)) == 0:
        params.append(draw(st.sampled_from(params)))  # a parameter given twice
    return draw(st.permutations(params))


# The browser's session cookie: Ada's, someone unknown to the host, or any printable ASCII
# (a non-ASCII byte is a known 500: see test_a_non_ascii_session_value_is_not_a_server_error).
sessions = st.one_of(
    st.none(),
    st.just("ada"),
    st.text(
        st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters=';"\\'),
        max_size=12,
    ),
)


def allowed(location: str) -> bool:
    """Both a strict parser and httpx's (WHATWG-like) one agree the origin is one of ours."""
    if any(c in location for c in "\\\r\n\t ") or location.startswith("//"):
        return False
    parts, url = urlsplit(location), httpx.URL(location)
    origin = f"{parts.scheme}://{parts.netloc}"
    port = f":{url.port}" if url.port else ""
    return origin in HOME and f"{url.scheme}://{url.host}{port}" == origin


def test_authorize_never_redirects_away(browser_app: FastAPI) -> None:
    outcomes: Counter[str] = Counter()
    with served(browser_app) as call:

        @settings(FUZZ, max_examples=500)
        @given(query=authorize_queries(), session=sessions)
        def fuzz(query: list[tuple[str, str]], session: str | None) -> None:
            signed_in = session == "ada"
            headers = {} if session is None else {"Cookie": f"sid={session}"}
            response = call("GET", "/authorize", params=query, headers=headers)
            assert response.status_code < 500, response.text
            location = response.headers.get("location")
            if location is None:
                assert response.status_code != 302
                assert response.headers["content-type"].startswith("text/html")
                outcomes[str(response.status_code)] += 1
                return
            assert response.status_code == 302
            assert allowed(location), location
            params = dict(parse_qsl(urlsplit(location).query))
            if location.startswith(HOST):
                assert params["next"].startswith("http://127.0.0.1:8000/authorize?")
                outcomes["login"] += 1
                return
            assert signed_in
            verified = []
            for key in (MAIN_KEY, OTHER_KEY):
                with contextlib.suppress(jwt.InvalidSignatureError):
                    verified.append(jwt.decode(params["token"], key, algorithms=["HS256"]))
            assert [claims["sub"] for claims in verified] == ["u-1"]
            outcomes["redirected"] += 1

        fuzz()
    # The generator reaches each branch, or the pass would prove little.
    assert outcomes["redirected"] and outcomes["login"] and outcomes["400"], outcomes


# HttpAdapter.resolve_session copies the forwarded cookie or header value into an
# httpx.Request, whose header encoding is ASCII: a value holding a byte above 0x7F (which
# uvicorn passes on, and a browser sends for a cookie set with UTF-8 in it) raises
# UnicodeEncodeError out of service/identity/http.py (_fetch), not caught by _get's
# httpx.HTTPError handlers: GET /authorize answers 500 instead of a page (401 or 400).
@pytest.mark.parametrize(
    "headers",
    [{"Cookie": b"sid=caf\xe9"}, {"X-Host-Session": b"caf\xe9"}],
    ids=["cookie", "forwarded-header"],
)
def test_a_non_ascii_session_value_is_not_a_server_error(
    browser_app: FastAPI, headers: dict[str, bytes]
) -> None:
    with served(browser_app) as call:
        response = call("GET", "/authorize", params={"spot": "main"}, headers=headers)
    assert response.status_code < 500, response.text
    assert "location" not in response.headers or allowed(response.headers["location"])
