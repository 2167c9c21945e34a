"""redirectUrl and referrerUrl rules: long tables of hostile inputs, a public corpus, properties."""

from __future__ import annotations

import contextlib
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.contract.redirects import (
    MAX_URL_LENGTH,
    RedirectRefused,
    check_redirect_url,
    check_referrer,
    spot_id_in,
    with_token,
)
from tests.support.paths import ROOT

SPOT = "129487c9-6acc-43d9-ab96-182ded763538"
OTHER_SPOT = "5f0c6a34-2b7e-4d0a-9d51-0a8b7c6d5e4f"
ORIGINS = ["https://go.meltingspot.io", "http://127.0.0.1:8000"]
MS = "https://go.meltingspot.io"
CORPUS = ROOT.parent / "shared" / "reference" / "open-redirects" / "payloads.txt"

GOOD_REDIRECTS = {
    "plain": f"{MS}/spot/{SPOT}/sso",
    "dots-inside-segments": f"{MS}/spot/{SPOT}/a.b/..c/d../.e",
    "dot-dot-in-query": f"{MS}/spot/{SPOT}/sso?next=../../x&y=%2e%2e",
    "with-referrer": f"{MS}/spot/{SPOT}/sso?referrerUrl=%2Fspot%2F{SPOT}%2Flives",
    "explicit-default-port": f"https://go.meltingspot.io:443/spot/{SPOT}",
    "upper-case-host": f"https://GO.MeltingSpot.IO/spot/{SPOT}",
    "upper-case-scheme": f"HTTPS://go.meltingspot.io/spot/{SPOT}",
    "root": MS,
    "root-slash": MS + "/",
    "local-listed": "http://127.0.0.1:8000/demo/spot/callback?x=1",
    "double-slash-path-same-host": f"{MS}//spot/{SPOT}",
}

HOSTILE_REDIRECTS = {
    "other-host": "https://evil.example/spot",
    "suffix-host": "https://go.meltingspot.io.evil.example/",
    "prefix-host": "https://evilgo.meltingspot.io/",
    "sub-host": "https://a.go.meltingspot.io/",
    "parent-host": "https://meltingspot.io/",
    "trailing-dot": "https://go.meltingspot.io./",
    "look-alike-cyrillic": "https://g\u043e.meltingspot.io/",
    "look-alike-punycode": "https://xn--g-7sb.meltingspot.io/",
    "userinfo": "https://go.meltingspot.io@evil.example/",
    "userinfo-full": "https://user:pass@go.meltingspot.io/",
    "userinfo-encoded-at": "https://go.meltingspot.io%40evil.example/",
    "userinfo-backslash": "https://go.meltingspot.io\\@evil.example/",
    "backslash-host": "https:\\\\evil.example",
    "backslash-path": "https://go.meltingspot.io\\evil.example",
    "http-downgrade": "http://go.meltingspot.io/",
    "wrong-port": "https://go.meltingspot.io:8443/",
    "bad-port": "https://go.meltingspot.io:99999/",
    "non-numeric-port": "https://go.meltingspot.io:abc/",
    "empty-port": "https://go.meltingspot.io:/",
    "local-other-port": "http://127.0.0.1:9000/",
    "local-https": "https://127.0.0.1:8000/",
    "localhost": "http://localhost:8000/",
    "numeric-ip-decimal": "http://2130706433:8000/",
    "numeric-ip-hex": "http://0x7f000001:8000/",
    "numeric-ip-octal": "http://0177.0.0.1:8000/",
    "ipv6-loopback": "http://[::1]:8000/",
    "ipv4-mapped": "http://[::ffff:127.0.0.1]:8000/",
    "protocol-relative": "//evil.example/",
    "protocol-relative-allowed-host": "//go.meltingspot.io/",
    "relative-path": "/spot/x",
    "no-slashes": "https:go.meltingspot.io/",
    "one-slash": "https:/go.meltingspot.io/",
    "three-slashes": "https:///go.meltingspot.io/",
    "javascript": "javascript:alert(1)//https://go.meltingspot.io/",
    "data": "data:text/html,<script>alert(1)</script>",
    "file": "file:///etc/passwd",
    "ftp": "ftp://go.meltingspot.io/",
    "fragment": f"{MS}/spot/{SPOT}#x",
    "empty-fragment": f"{MS}/spot/{SPOT}#",
    "fragment-host-trick": "https://evil.example#go.meltingspot.io",
    "query-host-trick": "https://evil.example?go.meltingspot.io",
    "tab-in-scheme": "ht\ttps://go.meltingspot.io/",
    "newline-in-host": "https://go.melting\nspot.io/",
    "crlf-injection": f"{MS}/\r\nSet-Cookie: x=1",
    "leading-space": " https://go.meltingspot.io/",
    "trailing-space": "https://go.meltingspot.io/ ",
    "nbsp": "https://go.meltingspot.io/\u00a0",
    "null-byte": "https://go.meltingspot.io\x00.evil.example/",
    "unicode-dot": "https://go\u3002meltingspot\u3002io.evil.example/",
    "fullwidth-dot-host": "https://evil\uff0eexample/",
    "zero-width": "https://go.melting\u200bspot.io/",
    "rtl-override": "https://go.meltingspot.io\u202e/",
    "encoded-slashes-host": "https:%2F%2Fevil.example",
    "double-encoded": "https%253A%252F%252Fevil.example",
    "percent-in-host": "https://%67o.meltingspot.io/",
    "empty": "",
    "only-scheme": "https://",
    "too-long": f"{MS}/spot/{SPOT}?" + "a" * MAX_URL_LENGTH,
    "dot-host": "https://./",
    "ipv6-garbage": "https://[go.meltingspot.io]/",
    # Dot segments: a browser resolves them, landing on another Spot's page with our token.
    "dot-dot-other-spot": f"{MS}/spot/{SPOT}/../../spot/{OTHER_SPOT}/",
    "dot-dot-end": f"{MS}/spot/{SPOT}/..",
    "dot-dot-before-query": f"{MS}/spot/{SPOT}/..?x=1",
    "dot-segment": f"{MS}/spot/{SPOT}/./sso",
    "dot-end": f"{MS}/spot/{SPOT}/.",
    "encoded-dot-dot-lower": f"{MS}/spot/{SPOT}/%2e%2e/%2e%2e/spot/{OTHER_SPOT}/",
    "encoded-dot-dot-upper": f"{MS}/spot/{SPOT}/%2E%2E/%2E%2E/spot/{OTHER_SPOT}/",
    "encoded-dot-mixed": f"{MS}/spot/{SPOT}/.%2E/%2e./spot/{OTHER_SPOT}/",
    "encoded-dot": f"{MS}/spot/{SPOT}/%2e/sso",
    "double-encoded-dot-dot": f"{MS}/spot/{SPOT}/%252e%252e/spot/{OTHER_SPOT}/",
    "encoded-slash-dot-dot": f"{MS}/spot/{SPOT}%2F..%2F..%2Fspot%2F{OTHER_SPOT}",
    "dot-dot-local": "http://127.0.0.1:8000/demo/spot/../host/api/me",
}


@pytest.mark.parametrize("url", GOOD_REDIRECTS.values(), ids=GOOD_REDIRECTS.keys())
def test_allowed_redirects(url: str) -> None:
    checked = check_redirect_url(url, ORIGINS)
    parts = urlsplit(checked)
    assert f"{parts.scheme}://{parts.netloc}".replace(":443", "") in ORIGINS
    assert urlsplit(url).path == parts.path and urlsplit(url).query == parts.query


def test_allowed_redirect_is_normalised_to_its_origin() -> None:
    assert check_redirect_url("HTTPS://GO.MeltingSpot.IO:443/a?b=C", ORIGINS) == f"{MS}/a?b=C"


@pytest.mark.parametrize("url", HOSTILE_REDIRECTS.values(), ids=HOSTILE_REDIRECTS.keys())
def test_hostile_redirects_are_refused(url: str) -> None:
    with pytest.raises(RedirectRefused) as refused:
        check_redirect_url(url, ORIGINS)
    assert str(refused.value).startswith("redirectUrl")


def test_at_least_sixty_hostile_redirects() -> None:
    assert len(HOSTILE_REDIRECTS) + len(HOSTILE_REFERRERS) >= 60


def corpus() -> list[str]:
    return CORPUS.read_text(encoding="utf-8").splitlines()


def test_public_open_redirect_corpus_is_refused() -> None:
    """Every payload, with the corpus's allowed host replaced by MeltingSpot's, is refused.

    None of the 559 resolves to https://go.meltingspot.io once substituted: the ones that
    name that host do it behind userinfo, backslashes, encodings, other schemes or tabs.
    """
    payloads = [line.replace("www.whitelisteddomain.tld", "go.meltingspot.io") for line in corpus()]
    assert len(payloads) == 559
    passed = []
    for payload in payloads:
        with contextlib.suppress(RedirectRefused):
            passed.append(check_redirect_url(payload, ORIGINS))
    assert passed == []


HOSTILE_REFERRERS = {
    "other-spot": f"/spot/{OTHER_SPOT}/lives",
    "spot-id-prefix": f"/spot/{SPOT}x/lives",
    "spot-id-suffix-trick": f"/spot/{SPOT}-evil",
    "not-a-spot-path": "/admin",
    "relative": f"spot/{SPOT}/lives",
    "absolute-url": f"https://go.meltingspot.io/spot/{SPOT}/lives",
    "other-host": f"https://evil.example/spot/{SPOT}",
    "protocol-relative": f"//evil.example/spot/{SPOT}",
    "double-slash": f"/spot/{SPOT}//evil.example",
    "encoded-double-slash": f"/spot/{SPOT}/%2F%2Fevil.example",
    "double-encoded-slash": f"/spot/{SPOT}/%252F%252Fevil.example",
    "dot-dot": f"/spot/{SPOT}/../{OTHER_SPOT}",
    "dot": f"/spot/{SPOT}/./lives",
    "encoded-dot-dot": f"/spot/{SPOT}/%2e%2e/{OTHER_SPOT}",
    "double-encoded-dot-dot": f"/spot/{SPOT}/%252e%252e/{OTHER_SPOT}",
    "triple-encoded-dot-dot": f"/spot/{SPOT}/%25252e%25252e/x",
    "mixed-dot-dot": f"/spot/{SPOT}/.%2e/x",
    "trailing-dot-dot": f"/spot/{SPOT}/..",
    "backslash": f"/spot/{SPOT}\\..\\x",
    "encoded-backslash": f"/spot/{SPOT}/%5c%5cevil.example",
    "tab": f"/spot/{SPOT}/\tlives",
    "encoded-newline": f"/spot/{SPOT}/%0d%0aSet-Cookie:x",
    "leading-space": f" /spot/{SPOT}",
    "fragment": f"/spot/{SPOT}/lives#x",
    "scheme-in-path": f"/spot/{SPOT}/javascript:alert(1)",
    "userinfo-in-path": f"/spot/{SPOT}/@evil.example",
    "markup": f"/spot/{SPOT}/<script>",
    "markup-in-query": f"/spot/{SPOT}/lives?x=<script>",
    "quote": f'/spot/{SPOT}/"onload=',
    "empty": "",
    "too-long": f"/spot/{SPOT}/" + "a" * MAX_URL_LENGTH,
}


GOOD_REFERRERS = [
    f"/spot/{SPOT}",
    f"/spot/{SPOT}/",
    f"/spot/{SPOT}/lives",
    f"/spot/{SPOT}?tab=members",
    f"/spot/{SPOT}/posts/5f0c6a34-2b7e-4d0a-9d51-0a8b7c6d5e4f",
    f"/spot/{SPOT.upper()}/lives",
    f"/spot/{SPOT}/events?when=2026-11-27&sort=asc",
    f"/spot/{SPOT}/caf%C3%A9",
]


@pytest.mark.parametrize("path", GOOD_REFERRERS)
def test_allowed_referrers(path: str) -> None:
    assert check_referrer(path, SPOT) == path


@pytest.mark.parametrize("path", HOSTILE_REFERRERS.values(), ids=HOSTILE_REFERRERS.keys())
def test_hostile_referrers_are_refused(path: str) -> None:
    with pytest.raises(RedirectRefused) as refused:
        check_referrer(path, SPOT)
    assert str(refused.value).startswith("referrerUrl")


def test_corpus_as_referrer_never_leaves_the_spot() -> None:
    """Payloads given as referrerUrl are refused, or stay a plain path inside this Spot."""
    for payload in corpus():
        for candidate in (payload, f"/spot/{SPOT}/{payload}", f"/spot/{SPOT}{payload}"):
            try:
                path = check_referrer(candidate, SPOT)
            except RedirectRefused:
                continue
            assert path.lower().startswith(f"/spot/{SPOT}")
            assert "//" not in path.split("?")[0] and ":" not in path.split("?")[0]


# --- adding the token -------------------------------------------------------------------


def test_token_is_appended_keeping_every_parameter_and_its_encoding() -> None:
    url = f"{MS}/spot/{SPOT}/sso?referrerUrl=%2Fspot%2F{SPOT}%2Flives&b=2&a=1&flag&e=x+y"
    result = with_token(url, "h.p.s")
    assert result == url + "&token=h.p.s"


def test_token_on_a_url_without_query() -> None:
    assert with_token(f"{MS}/spot/{SPOT}/sso", "t") == f"{MS}/spot/{SPOT}/sso?token=t"


def test_existing_token_is_replaced() -> None:
    url = f"{MS}/cb?token=old&x=1&token=older"
    assert with_token(url, "new") == f"{MS}/cb?x=1&token=new"


def test_forced_referrer_replaces_the_existing_one_in_place() -> None:
    url = f"{MS}/cb?a=1&referrerUrl=%2Fspot%2F{SPOT}&b=2&referrerUrl=dup"
    result = with_token(url, "t", referrer=f"/spot/{SPOT}/lives?tab=1")
    assert result == f"{MS}/cb?a=1&referrerUrl=/spot/{SPOT}/lives%3Ftab%3D1&b=2&token=t"
    params = parse_qsl(urlsplit(result).query)
    assert params == [
        ("a", "1"),
        ("referrerUrl", f"/spot/{SPOT}/lives?tab=1"),
        ("b", "2"),
        ("token", "t"),
    ]


def test_forced_referrer_is_added_when_absent() -> None:
    result = with_token(f"{MS}/cb?a=1", "t", referrer=f"/spot/{SPOT}/lives")
    assert result == f"{MS}/cb?a=1&referrerUrl=/spot/{SPOT}/lives&token=t"


def test_spot_id_in_url() -> None:
    assert spot_id_in(f"{MS}/spot/{SPOT.upper()}/sso?x=1") == SPOT
    assert spot_id_in(f"{MS}/sso?referrerUrl=/spot/{SPOT}") is None
    assert spot_id_in(f"{MS}/spot/{SPOT}x") is None


# --- properties -------------------------------------------------------------------------

URL_CHARS = st.characters(codec="utf-8", exclude_categories=("Cs",))


@given(st.text(URL_CHARS, max_size=80), st.text(URL_CHARS, max_size=40))
def test_any_url_that_passes_has_an_allowed_origin(tail: str, host: str) -> None:
    for url in (
        tail,
        f"https://{host}{tail}",
        f"https://go.meltingspot.io{tail}",
        f"http://127.0.0.1:8000{tail}",
    ):
        try:
            checked = check_redirect_url(url, ORIGINS)
        except RedirectRefused:
            continue
        parts = urlsplit(checked)
        assert (
            f"{parts.scheme}://{parts.hostname}"
            + (f":{parts.port}" if parts.port not in (None, 443) else "")
            in ORIGINS
        )
        assert parts.username is None and parts.password is None and not parts.fragment


@given(st.text(URL_CHARS, max_size=60))
def test_any_referrer_that_passes_stays_in_the_spot(tail: str) -> None:
    try:
        path = check_referrer(f"/spot/{SPOT}{tail}", SPOT)
    except RedirectRefused:
        return
    assert path.lower().startswith(f"/spot/{SPOT}")
    assert "//" not in path.split("?")[0] and "\\" not in path


@given(st.text(URL_CHARS, min_size=1, max_size=40), st.text(min_size=1, max_size=40))
def test_with_token_keeps_the_origin_and_ends_with_the_token(query: str, token: str) -> None:
    url = f"{MS}/spot/{SPOT}/sso?{query.replace('#', '')}"
    result = with_token(url, token)
    parts = urlsplit(result)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https",
        "go.meltingspot.io",
        f"/spot/{SPOT}/sso",
    )
    assert parse_qsl(parts.query, keep_blank_values=True)[-1] == ("token", token)
