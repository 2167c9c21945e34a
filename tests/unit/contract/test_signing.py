"""TokenIssuer (service.contract.signing) checked against PyJWT and a hand-made HMAC."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from datetime import UTC, datetime
from typing import Any

import jwt as pyjwt
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from service.contract.claims import Member, SpotClaims
from service.contract.signing import ExpiredToken, InvalidToken, TokenIssuer, now

# 64+ characters so PyJWT never warns about short HMAC keys, even for HS512.
KEY = "spot-private-key-0123456789abcdef-0123456789abcdef-0123456789abcdef"
OTHER_KEY = "another-spot-key-fedcba9876543210-fedcba9876543210-fedcba9876543210"
UNICODE_KEY = "clé-privée-du-spot-ÄÖÜ-ß-渡辺-0123456789abcdef-0123456789abcdef"
HEADER = b'{"alg":"HS256","typ":"JWT"}'


def b64url_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def make_claims(**member_fields: Any) -> SpotClaims:
    data: dict[str, Any] = {
        "sub": "u-1001",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada@example.com",
        **member_fields,
    }
    return SpotClaims.for_member(Member(**data), issued_at=now(), ttl_seconds=60)


def wire_payload(**changes: Any) -> dict[str, Any]:
    payload = make_claims().to_wire()
    payload.update(changes)
    return {name: value for name, value in payload.items() if value is not None}


def hand_made(header: dict[str, Any], payload: dict[str, Any], key: str | None) -> str:
    """A compact JWS built without any JWT library (HS256 signature when ``key`` is set)."""
    signing_input = ".".join(
        b64url_encode(json.dumps(part, separators=(",", ":")).encode())
        for part in (header, payload)
    )
    if key is None:
        return signing_input + "."
    digest = hmac.new(key.encode(), signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{b64url_encode(digest)}"


@pytest.fixture
def issuer() -> TokenIssuer:
    return TokenIssuer(SecretStr(KEY))


# --- sign ----------------------------------------------------------------------------------


def test_sign_is_decoded_by_pyjwt_to_the_wire_claims(issuer: TokenIssuer) -> None:
    claims = make_claims(
        title="Analyst",
        avatar_url="https://example.com/a.png",
        lang="fr-FR",
        timezone="europe/london",
    )
    token = issuer.sign(claims)
    assert pyjwt.decode(token, KEY, algorithms=["HS256"]) == claims.to_wire()


def test_sign_with_extra_claims_is_decoded_by_pyjwt(issuer: TokenIssuer) -> None:
    member = Member(sub="u-1", first_name="A", last_name="B", email="a@example.com")
    claims = SpotClaims.for_member(
        member,
        issued_at=now(),
        ttl_seconds=60,
        groups_join=["g1"],
        groups_leave=["g2"],
        custom_properties={"plan": "pro"},
        domains_set={"default": "https://example.com/community"},
        domains_unset=["old"],
    )
    decoded = pyjwt.decode(issuer.sign(claims), KEY, algorithms=["HS256"])
    assert decoded == claims.to_wire()
    assert decoded["groups:join"] == ["g1"]
    assert decoded["domains:set"] == {"default": "https://example.com/community"}


def test_sign_produces_three_unpadded_base64url_segments(issuer: TokenIssuer) -> None:
    token = issuer.sign(make_claims())
    segments = token.split(".")
    assert len(segments) == 3
    for segment in segments:
        assert segment
        assert "=" not in segment
        assert set(segment) <= set(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        )


def test_sign_header_is_exactly_hs256_jwt(issuer: TokenIssuer) -> None:
    token = issuer.sign(make_claims())
    assert b64url_decode(token.split(".")[0]) == HEADER
    assert pyjwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}


def test_sign_payload_is_the_wire_json(issuer: TokenIssuer) -> None:
    claims = make_claims()
    payload = json.loads(b64url_decode(issuer.sign(claims).split(".")[1]))
    assert payload == claims.to_wire()


@pytest.mark.parametrize(
    ("first", "last"),
    [("Zoë", "Brontë"), ("渡辺", "さくら"), ("Ἀριστοτέλης", "Σταγειρίτης"), ("Ada 🙂", "Łukasz")],
    ids=["latin", "japanese", "greek", "emoji-polish"],
)
def test_sign_keeps_non_ascii_names(issuer: TokenIssuer, first: str, last: str) -> None:
    claims = make_claims(first_name=first, last_name=last, email="élodie@exämple.de")
    token = issuer.sign(claims)
    decoded = pyjwt.decode(token, KEY, algorithms=["HS256"])
    assert (decoded["firstName"], decoded["lastName"]) == (first, last)
    assert decoded["email"] == "élodie@exämple.de"
    assert issuer.verify(token) == claims.to_wire()


@pytest.mark.parametrize("key", [KEY, UNICODE_KEY], ids=["ascii-key", "non-ascii-key"])
def test_signature_is_hmac_sha256_over_utf8_key(key: str) -> None:
    token = TokenIssuer(SecretStr(key)).sign(make_claims(first_name="Zoë"))
    header, payload, signature = token.split(".")
    expected = hmac.new(
        key.encode("utf-8"), f"{header}.{payload}".encode("ascii"), hashlib.sha256
    ).digest()
    assert b64url_decode(signature) == expected
    assert pyjwt.decode(token, key.encode("utf-8"), algorithms=["HS256"])["firstName"] == "Zoë"


def test_sign_is_deterministic(issuer: TokenIssuer) -> None:
    claims = make_claims()
    assert issuer.sign(claims) == issuer.sign(claims)


def test_different_keys_give_different_signatures() -> None:
    claims = make_claims()
    one = TokenIssuer(SecretStr(KEY)).sign(claims)
    two = TokenIssuer(SecretStr(OTHER_KEY)).sign(claims)
    assert one.rsplit(".", 1)[0] == two.rsplit(".", 1)[0]
    assert one != two


# --- verify ------------------------------------------------------------------------------


def test_verify_accepts_its_own_token(issuer: TokenIssuer) -> None:
    claims = make_claims(title="Analyst", lang="de-AT")
    assert issuer.verify(issuer.sign(claims)) == claims.to_wire()


def test_verify_accepts_a_pyjwt_hs256_token(issuer: TokenIssuer) -> None:
    payload = wire_payload()
    assert issuer.verify(pyjwt.encode(payload, KEY, algorithm="HS256")) == payload


def test_verify_accepts_a_hand_made_hs256_token(issuer: TokenIssuer) -> None:
    payload = wire_payload()
    token = hand_made({"alg": "HS256", "typ": "JWT"}, payload, KEY)
    assert issuer.verify(token) == payload


def test_verify_refuses_another_keys_token(issuer: TokenIssuer) -> None:
    token = TokenIssuer(SecretStr(OTHER_KEY)).sign(make_claims())
    with pytest.raises(InvalidToken, match="signature") as info:
        issuer.verify(token)
    assert not isinstance(info.value, ExpiredToken)


@pytest.mark.parametrize("algorithm", ["HS384", "HS512"])
def test_verify_refuses_other_hmac_algorithms(issuer: TokenIssuer, algorithm: str) -> None:
    token = pyjwt.encode(wire_payload(), KEY, algorithm=algorithm)
    with pytest.raises(InvalidToken, match=algorithm):
        issuer.verify(token)


def test_verify_refuses_alg_none_from_pyjwt(issuer: TokenIssuer) -> None:
    token = pyjwt.encode(wire_payload(), None, algorithm="none")
    with pytest.raises(InvalidToken):
        issuer.verify(token)


@pytest.mark.parametrize(
    ("alg", "signed"),
    [
        ("none", False),
        ("None", False),
        ("NONE", False),
        ("none", True),
        ("hs256", True),
        ("", True),
        (None, True),
    ],
    ids=["none", "None", "NONE", "none-with-signature", "lower-hs256", "empty", "null"],
)
def test_verify_refuses_hand_made_bad_alg(
    issuer: TokenIssuer, alg: str | None, signed: bool
) -> None:
    token = hand_made({"alg": alg, "typ": "JWT"}, wire_payload(), KEY if signed else None)
    with pytest.raises(InvalidToken):
        issuer.verify(token)


def test_verify_refuses_header_without_alg(issuer: TokenIssuer) -> None:
    with pytest.raises(InvalidToken):
        issuer.verify(hand_made({"typ": "JWT"}, wire_payload(), KEY))


def test_verify_refuses_a_tampered_payload(issuer: TokenIssuer) -> None:
    header, _, signature = issuer.sign(make_claims()).split(".")
    forged = b64url_encode(json.dumps(wire_payload(sub="admin")).encode())
    with pytest.raises(InvalidToken, match="signature"):
        issuer.verify(f"{header}.{forged}.{signature}")


def test_verify_refuses_a_tampered_signature(issuer: TokenIssuer) -> None:
    header, payload, signature = issuer.sign(make_claims()).split(".")
    raw = bytearray(b64url_decode(signature))
    raw[0] ^= 0x01
    with pytest.raises(InvalidToken):
        issuer.verify(f"{header}.{payload}.{b64url_encode(bytes(raw))}")


def test_verify_refuses_a_swapped_header(issuer: TokenIssuer) -> None:
    _, payload, signature = issuer.sign(make_claims()).split(".")
    header = b64url_encode(b'{"alg":"HS256","typ":"JWT","kid":"x"}')
    with pytest.raises(InvalidToken):
        issuer.verify(f"{header}.{payload}.{signature}")


GARBAGE = {
    "empty": "",
    "word": "garbage",
    "dots": "a.b.c",
    "only-dots": "..",
    "two-segments": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0",
    "four-segments": "a.b.c.d",
    "not-base64": "!!!.???.***",
    "json-header-not-object": b64url_encode(b"[1,2]") + ".e30.x",
    "header-not-json": b64url_encode(b"not json") + ".e30.x",
    "unicode": "ëyJ.ëyJ.ë",
    "spaces": "   ",
}


@pytest.mark.parametrize("token", GARBAGE.values(), ids=GARBAGE.keys())
def test_verify_refuses_garbage(issuer: TokenIssuer, token: str) -> None:
    with pytest.raises(InvalidToken):
        issuer.verify(token)


@pytest.mark.parametrize(
    "payload",
    [b"not json", b"[1, 2]", b'"a string"', b"42"],
    ids=["not-json", "array", "string", "number"],
)
def test_verify_refuses_signed_non_object_payload(issuer: TokenIssuer, payload: bytes) -> None:
    signing_input = f"{b64url_encode(HEADER)}.{b64url_encode(payload)}"
    digest = hmac.new(KEY.encode(), signing_input.encode(), hashlib.sha256).digest()
    with pytest.raises(InvalidToken):
        issuer.verify(f"{signing_input}.{b64url_encode(digest)}")


@pytest.mark.parametrize("missing", ["exp", "iat", "sub"])
def test_verify_refuses_token_without_required_claim(issuer: TokenIssuer, missing: str) -> None:
    payload = wire_payload()
    del payload[missing]
    token = pyjwt.encode(payload, KEY, algorithm="HS256")
    with pytest.raises(InvalidToken, match=missing) as info:
        issuer.verify(token)
    assert not isinstance(info.value, ExpiredToken)


@pytest.mark.parametrize("claim", ["exp", "iat", "nbf"])
@pytest.mark.parametrize(
    "value",
    [
        pytest.param("soon", id="string"),
        pytest.param(float("nan"), id="nan"),
        pytest.param(None, id="null"),
        pytest.param([1], id="array"),
        pytest.param({}, id="object"),
        pytest.param(float("inf"), id="infinity"),
    ],
)
def test_verify_refuses_non_numeric_time_claim(issuer: TokenIssuer, claim: str, value: Any) -> None:
    token = hand_made({"alg": "HS256", "typ": "JWT"}, {**wire_payload(), claim: value}, KEY)
    with pytest.raises(InvalidToken):
        issuer.verify(token)


@pytest.mark.parametrize("claim", ["exp", "iat"])
def test_verify_refuses_time_claim_as_numeric_string(issuer: TokenIssuer, claim: str) -> None:
    payload = wire_payload()
    token = hand_made({"alg": "HS256", "typ": "JWT"}, {**payload, claim: str(payload[claim])}, KEY)
    with pytest.raises(InvalidToken):
        issuer.verify(token)


def test_verify_raises_expired_token(issuer: TokenIssuer) -> None:
    issued = now() - 120
    token = pyjwt.encode(wire_payload(iat=issued, exp=issued + 60), KEY, algorithm="HS256")
    with pytest.raises(ExpiredToken):
        issuer.verify(token)
    with pytest.raises(InvalidToken):  # ExpiredToken is an InvalidToken
        issuer.verify(token)


def test_verify_raises_expired_for_its_own_old_token(issuer: TokenIssuer) -> None:
    member = Member(sub="u-1", first_name="A", last_name="B", email="a@example.com")
    old = SpotClaims.for_member(member, issued_at=now() - 3600, ttl_seconds=60)
    with pytest.raises(ExpiredToken):
        issuer.verify(issuer.sign(old))


@pytest.mark.parametrize(
    ("expired_for", "leeway", "accepted"),
    [(30, 0, False), (30, 10, False), (30, 120, True), (5, 60, True)],
    ids=["no-leeway", "leeway-too-small", "leeway-covers", "small-delay"],
)
def test_verify_leeway(issuer: TokenIssuer, expired_for: int, leeway: int, accepted: bool) -> None:
    exp = now() - expired_for
    payload = wire_payload(iat=exp - 60, exp=exp)
    token = pyjwt.encode(payload, KEY, algorithm="HS256")
    if accepted:
        assert issuer.verify(token, leeway=leeway) == payload
    else:
        with pytest.raises(ExpiredToken):
            issuer.verify(token, leeway=leeway)


def test_error_messages_do_not_contain_the_token(issuer: TokenIssuer) -> None:
    bad = [
        TokenIssuer(SecretStr(OTHER_KEY)).sign(make_claims()),
        pyjwt.encode(wire_payload(exp=now() - 100), KEY, algorithm="HS256"),
        pyjwt.encode(wire_payload(), KEY, algorithm="HS512"),
    ]
    for token in bad:
        with pytest.raises(InvalidToken) as info:
            issuer.verify(token)
        message = str(info.value)
        assert token not in message
        for segment in token.split("."):
            assert segment not in message
        assert KEY not in message


@pytest.mark.parametrize(
    "key",
    [
        '{"k": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789"}',
        '["0123456789abcdef0123456789abcdef0123456789abcdef0123456789"]',
        '"0123456789abcdef0123456789abcdef0123456789abcdef0123456789"',
    ],
    ids=["json-object", "json-array", "json-string"],
)
def test_verify_accepts_own_token_for_any_key_string(key: str) -> None:
    issuer = TokenIssuer(SecretStr(key))
    claims = make_claims()
    token = issuer.sign(claims)
    assert pyjwt.decode(token, key, algorithms=["HS256"]) == claims.to_wire()  # signed right
    assert issuer.verify(token) == claims.to_wire()


# --- the key stays secret -------------------------------------------------------------------


def test_repr_and_str_do_not_contain_the_key(issuer: TokenIssuer) -> None:
    for text in (repr(issuer), str(issuer), f"{issuer}", f"{issuer!r}"):
        assert KEY not in text
        assert KEY[:16] not in text
    assert "TokenIssuer" in repr(issuer)


def test_issuer_has_no_instance_dict(issuer: TokenIssuer) -> None:
    # __slots__: no __dict__ for vars()/debuggers to dump, no stray attributes.
    assert not hasattr(issuer, "__dict__")
    with pytest.raises(AttributeError):
        issuer.extra = 1  # type: ignore[attr-defined]


# --- what is wrong with a refused token ---------------------------------------------------
# python-jose refuses these; the message says what is wrong, as a person would look.

H = b64url_encode(HEADER)
P = b64url_encode(b'{"sub":"u-1"}')
S = b64url_encode(b"s" * 32)
NOT_UTF8 = b64url_encode(b"\xff{}")
A_STRING = b64url_encode(b'"u-1"')

MALFORMED = {
    "empty": ("", "the token is empty"),
    "one-part": ("garbage", "the token is not three dot-separated parts"),
    "two-parts": (f"{H}.{P}", "the token is not three dot-separated parts (header.payload"),
    "four-parts": (f"{H}.{P}.{S}.{S}", "it has 4"),
    "empty-header": (f".{P}.{S}", "the header is empty"),
    "empty-payload": (f"{H}..{S}", "the payload is empty"),
    "unsigned": (f"{H}.{P}.", "the token is unsigned: its signature is empty"),
    "header-not-base64url": (f"!!!.{P}.{S}", "the header is not valid base64url (it contains '!')"),
    "payload-not-base64url": (f"{H}.e3!0.{S}", "the payload is not valid base64url (it contains"),
    "signature-not-base64url": (f"{H}.{P}.{S}!", "the signature is not valid base64url ("),
    "signature-cut": (
        f"{H}.{P}.{S[:-2]}",
        "the signature is not valid base64url (41 characters: cut short?)",
    ),
    "line-break-inside": (
        f"{H}.{P}\n.{S}",
        "the payload is not valid base64url (it contains '\\n')",
    ),
    "header-not-json": (f"{b64url_encode(b'nope')}.{P}.{S}", "the header is not JSON"),
    "header-not-utf8": (f"{NOT_UTF8}.{P}.{S}", "the header is not UTF-8 text"),
    "header-an-array": (f"{b64url_encode(b'[1,2]')}.{P}.{S}", "the header is a JSON array, not"),
    "payload-not-json": (f"{H}.{b64url_encode(b'{sub')}.{S}", "the payload is not JSON ("),
    "payload-a-string": (f"{H}.{A_STRING}.{S}", "the payload is a JSON string, not"),
}


@pytest.mark.parametrize(("token", "message"), MALFORMED.values(), ids=MALFORMED.keys())
def test_verify_says_what_is_wrong_with_a_malformed_token(
    issuer: TokenIssuer, token: str, message: str
) -> None:
    with pytest.raises(InvalidToken) as info:
        issuer.verify(token)
    assert message in str(info.value)
    assert "Error decoding" not in str(info.value)  # python-jose's words, not a diagnosis


def test_a_well_formed_token_is_refused_for_its_signature(issuer: TokenIssuer) -> None:
    for token in (f"{H}.{P}.{S}", f"{H}.{P}.{S}="):  # padding is tolerated
        with pytest.raises(InvalidToken, match=r"^the signature does not match this Spot's key$"):
            issuer.verify(token)


@pytest.mark.parametrize(
    ("expired_for", "ago"),
    [(12, r"1[23] s"), (192, r"3 min 1[23] s"), (7500, r"2 h 5 min"), (273_600, r"3 d 4 h")],
)
def test_verify_says_when_a_token_expired(issuer: TokenIssuer, expired_for: int, ago: str) -> None:
    exp = now() - expired_for
    token = pyjwt.encode(wire_payload(iat=exp - 60, exp=exp), KEY, algorithm="HS256")
    with pytest.raises(ExpiredToken) as info:
        issuer.verify(token)
    when = datetime.fromtimestamp(exp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert re.fullmatch(rf"the token expired at {when} \({ago} ago\)", str(info.value))


@given(st.text(max_size=80) | st.from_regex(r"[A-Za-z0-9_\-=.!+/ ]{0,60}", fullmatch=True))
def test_verify_refuses_any_text_with_a_reason(token: str) -> None:
    issuer = TokenIssuer(SecretStr(KEY))
    with pytest.raises(InvalidToken) as info:
        issuer.verify(token)
    assert str(info.value)
