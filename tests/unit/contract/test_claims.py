"""Table tests for the claim models and their helpers (service.contract.claims)."""

from __future__ import annotations

import string
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from service.contract.claims import (
    MELTINGSPOT_DEFAULT_LANG,
    MELTINGSPOT_DEFAULT_TIMEZONE,
    SUPPORTED_LANGS,
    WIRE_NAMES,
    Member,
    SpotClaims,
    canonical_timezone,
    normalize_lang,
    normalize_timezone,
)

IAT = 1_700_000_000
TTL = 60

MEMBER: dict[str, Any] = {
    "sub": "u-1001",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "ada@example.com",
}
CLAIMS: dict[str, Any] = {
    **MEMBER,
    "lang": "en",
    "timezone": "Europe/Paris",
    "iat": IAT,
    "exp": IAT + TTL,
}
MODELS: dict[type[BaseModel], dict[str, Any]] = {Member: MEMBER, SpotClaims: CLAIMS}
BOTH = pytest.mark.parametrize("model", list(MODELS), ids=lambda m: m.__name__)


_MISSING: Any = object()  # a change that removes the field


def build(model: type[BaseModel], **changes: Any) -> BaseModel:
    """``model`` from the valid base data with ``changes`` applied (by field name)."""
    data = {**MODELS[model], **changes}
    return model(**{name: value for name, value in data.items() if value is not _MISSING})


def member(**changes: Any) -> Member:
    result = build(Member, **changes)
    assert isinstance(result, Member)
    return result


def claims(**changes: Any) -> SpotClaims:
    result = build(SpotClaims, **changes)
    assert isinstance(result, SpotClaims)
    return result


def refused(model: type[BaseModel], field: str, **changes: Any) -> None:
    """Building ``model`` with ``changes`` fails, with an error located at ``field``."""
    with pytest.raises(ValidationError) as info:
        build(model, **changes)
    locations = {error["loc"][0] for error in info.value.errors() if error["loc"]}
    assert WIRE_NAMES[field] in locations or field in locations, info.value.errors()


# 64-char local part @ a domain of 63+63+57(+1, +2)-char labels: 254, 255 and 256 chars.
LOCAL_64 = "a" * 64
DOMAIN_189 = "a" * 63 + "." + "b" * 63 + "." + "c" * 57 + ".com"
EMAIL_254 = f"{LOCAL_64}@{DOMAIN_189}"
EMAIL_255 = f"{LOCAL_64}@{DOMAIN_189[:-4]}c.com"
EMAIL_256 = f"{LOCAL_64}@{DOMAIN_189[:-4]}cc.com"
assert (len(EMAIL_254), len(EMAIL_255), len(EMAIL_256)) == (254, 255, 256)


# --- required text fields ------------------------------------------------------------

REQUIRED = ["sub", "first_name", "last_name", "email"]


@BOTH
@pytest.mark.parametrize("field", REQUIRED)
@pytest.mark.parametrize(
    "value",
    [_MISSING, "", " ", "   \t  ", "\u00a0\u3000"],
    ids=["missing", "empty", "space", "blank-spaces-tab", "blank-unicode-spaces"],
)
def test_required_field_missing_empty_or_blank_is_refused(
    model: type[BaseModel], field: str, value: Any
) -> None:
    refused(model, field, **{field: value})


@BOTH
@pytest.mark.parametrize("field", REQUIRED)
def test_required_field_none_is_refused(model: type[BaseModel], field: str) -> None:
    refused(model, field, **{field: None})


# --- length limits ---------------------------------------------------------------------

TEXT_FIELDS = ["sub", "first_name", "last_name", "title"]


@BOTH
@pytest.mark.parametrize("field", TEXT_FIELDS)
def test_text_field_of_255_chars_is_accepted(model: type[BaseModel], field: str) -> None:
    value = "x" * 255
    assert getattr(build(model, **{field: value}), field) == value


@BOTH
@pytest.mark.parametrize("field", TEXT_FIELDS)
def test_text_field_of_256_chars_is_refused(model: type[BaseModel], field: str) -> None:
    refused(model, field, **{field: "x" * 256})


@BOTH
@pytest.mark.parametrize("field", TEXT_FIELDS)
def test_text_field_length_counts_characters_not_bytes(model: type[BaseModel], field: str) -> None:
    value = "é" * 255  # 510 UTF-8 bytes
    assert getattr(build(model, **{field: value}), field) == value


@BOTH
@pytest.mark.parametrize("field", TEXT_FIELDS)
def test_text_field_limit_applies_after_stripping(model: type[BaseModel], field: str) -> None:
    value = "x" * 255
    assert getattr(build(model, **{field: f"  {value}  "}), field) == value


@BOTH
def test_email_of_254_chars_is_accepted(model: type[BaseModel]) -> None:
    assert build(model, email=EMAIL_254).email == EMAIL_254  # type: ignore[attr-defined]


@BOTH
@pytest.mark.parametrize(
    "value",
    [EMAIL_255, EMAIL_256, "a" * 250 + "@example.com"],
    ids=["255-over-rfc-254", "256-over-spec-255", "262"],
)
def test_email_over_the_limit_is_refused(model: type[BaseModel], value: str) -> None:
    # The SPEC allows <= 255 chars *and* valid syntax; email-validator enforces the RFC 5321
    # limit of 254, so the effective maximum is 254.
    refused(model, "email", email=value)


# --- control characters in text fields -------------------------------------------------

CONTROL_INSIDE = {
    "newline": "Ada\nLovelace",
    "carriage-return": "Ada\rLovelace",
    "crlf": "Ada\r\nLovelace",
    "tab": "Ada\tLovelace",
    "nul": "Ada\x00Lovelace",
    "bell": "Ada\x07",
    "escape": "\x1b[31mAda",
    "del": "Ada\x7f",
    "c1-nel": "Ada\x85Lovelace",
    "c1-csi": "Ada\x9bLovelace",
    "line-separator": "Ada\u2028Lovelace",
    "paragraph-separator": "Ada\u2029Lovelace",
}


@BOTH
@pytest.mark.parametrize("field", TEXT_FIELDS)
@pytest.mark.parametrize("value", CONTROL_INSIDE.values(), ids=CONTROL_INSIDE.keys())
def test_text_field_with_control_character_is_refused(
    model: type[BaseModel], field: str, value: str
) -> None:
    refused(model, field, **{field: value})


@BOTH
@pytest.mark.parametrize("field", TEXT_FIELDS)
@pytest.mark.parametrize(
    "value",
    ["Ada\n", "\r\nAda", "\tAda\t", " Ada ", "\u00a0Ada\u3000"],
    ids=["trailing-newline", "leading-crlf", "tabs", "spaces", "unicode-spaces"],
)
def test_surrounding_whitespace_is_stripped_not_refused(
    model: type[BaseModel], field: str, value: str
) -> None:
    # str_strip_whitespace runs before the control-character check, so a control character
    # that is also whitespace is silently removed when it is leading or trailing.
    assert getattr(build(model, **{field: value}), field) == "Ada"


@BOTH
@pytest.mark.parametrize(
    "value",
    ["ada\n@example.com", "ada@exam\tple.com", "ada@example.com\x00x"],
    ids=["newline", "tab", "nul"],
)
def test_email_with_control_character_is_refused(model: type[BaseModel], value: str) -> None:
    refused(model, "email", email=value)


@BOTH
@pytest.mark.parametrize(
    "value",
    ["Zoë", "Łukasz", "Müller-Lüdenscheidt", "O'Brien", "渡辺", "Ἀριστοτέλης", "🙂"],
    ids=["diaeresis", "polish", "german", "apostrophe", "cjk", "greek", "emoji"],
)
def test_text_field_accepts_non_ascii(model: type[BaseModel], value: str) -> None:
    assert build(model, first_name=value).first_name == value  # type: ignore[attr-defined]


# --- email syntax ---------------------------------------------------------------------

GOOD_EMAILS = {
    "simple": "ada@example.com",
    "plus-addressing": "ada+spot@example.com",
    "dots-in-local": "ada.lovelace@example.com",
    "subdomains": "ada@mail.eu.example.co.uk",
    "hyphen-domain": "ada@my-host.example",
    "digits": "1234@example.org",
    "unicode-local": "élodie@example.fr",
    "unicode-domain": "ada@exämple.de",
    "upper-case": "Ada.Lovelace@Example.COM",
}
BAD_EMAILS = {
    "no-at": "ada.example.com",
    "two-at": "ada@lovelace@example.com",
    "space-local": "ada lovelace@example.com",
    "space-domain": "ada@exa mple.com",
    "trailing-dot": "ada@example.com.",
    "dot-before-at": "ada.@example.com",
    "leading-dot": ".ada@example.com",
    "double-dot": "ada..lovelace@example.com",
    "missing-domain": "ada@",
    "missing-local": "@example.com",
    "domain-without-dot": "ada@localhost",
    "underscore-domain": "ada@ex_ample.com",
    "ip-literal": "ada@[127.0.0.1]",
    "quoted-local": '"ada lovelace"@example.com',
    "display-name": "Ada <ada@example.com>",
    "at-only": "@",
    "too-short": "a@",
}


@BOTH
@pytest.mark.parametrize("value", GOOD_EMAILS.values(), ids=GOOD_EMAILS.keys())
def test_good_email_is_accepted_unchanged(model: type[BaseModel], value: str) -> None:
    assert build(model, email=value).email == value  # type: ignore[attr-defined]


@BOTH
@pytest.mark.parametrize("value", BAD_EMAILS.values(), ids=BAD_EMAILS.keys())
def test_bad_email_is_refused(model: type[BaseModel], value: str) -> None:
    refused(model, "email", email=value)


# --- avatarUrl ------------------------------------------------------------------------

GOOD_URLS = {
    "https": "https://example.com/avatars/ada.png",
    "http": "http://example.com/a.png",
    "upper-case-scheme": "HTTPS://EXAMPLE.COM/A.PNG",
    "port": "https://cdn.example.com:8443/a.png",
    "query-fragment": "https://example.com/a.png?size=64&v=2#x",
    "ip-host": "http://127.0.0.1:8000/a.png",
    "ipv6-host": "http://[::1]:8000/a.png",
    "no-path": "https://example.com",
    "percent-encoded": "https://example.com/a%20b.png",
}
BAD_URLS = {
    "ftp": "ftp://example.com/a.png",
    "javascript": "javascript:alert(1)",
    "data": "data:image/png;base64,AAAA",
    "file": "file:///etc/passwd",
    "mailto": "mailto:ada@example.com",
    "relative-path": "avatars/ada.png",
    "absolute-path": "/avatars/ada.png",
    "protocol-relative": "//example.com/a.png",
    "space-in-path": "https://example.com/a b.png",
    "space-in-host": "https://exa mple.com/a.png",
    "tab-inside": "https://example.com/a\tb.png",
    "newline-inside": "https://example.com/a\nb.png",
    "userinfo-user-password": "https://u:p@example.com/a.png",
    "userinfo-user": "https://u@example.com/a.png",
    "userinfo-empty": "https://@example.com/a.png",
    "missing-host": "https:///a.png",
    "scheme-only": "https://",
    "single-slash": "https:/example.com/a.png",
    "no-slashes": "http:example.com",
    "broken-ipv6": "http://[::1/a.png",
    "empty": "",
    "over-2048": "https://example.com/" + "a" * 2048,
}


@BOTH
@pytest.mark.parametrize("value", GOOD_URLS.values(), ids=GOOD_URLS.keys())
def test_good_avatar_url_is_accepted(model: type[BaseModel], value: str) -> None:
    assert build(model, avatar_url=value).avatar_url == value  # type: ignore[attr-defined]


@BOTH
@pytest.mark.parametrize("value", BAD_URLS.values(), ids=BAD_URLS.keys())
def test_bad_avatar_url_is_refused(model: type[BaseModel], value: str) -> None:
    refused(model, "avatar_url", avatar_url=value)


@BOTH
@pytest.mark.parametrize(
    "value",
    ["https://example.com:abc/a.png", "https://example.com:99999/a.png"],
    ids=["non-numeric-port", "port-over-65535"],
)
def test_avatar_url_with_invalid_port_is_refused(model: type[BaseModel], value: str) -> None:
    refused(model, "avatar_url", avatar_url=value)


@BOTH
@pytest.mark.parametrize("field", ["title", "avatar_url"])
def test_optional_fields_may_be_absent_or_none(model: type[BaseModel], field: str) -> None:
    assert getattr(build(model), field) is None
    assert getattr(build(model, **{field: None}), field) is None


# --- normalize_lang -------------------------------------------------------------------

LANGS = {
    "fr-FR": "fr",
    "FR": "fr",
    "fr_CA": "fr",
    "fr": "fr",
    "de-AT": "de",
    "de": "de",
    "DE-de": "de",
    "en": "en",
    "EN-us": "en",
    "en-GB": "en",
    "en-Latn-US": "en",
    " fr-FR ": "fr",
}
UNSUPPORTED_LANGS = ["es", "pt-BR", "zz", "", None, "french", "f", "123", "fr-", "fr FR", "fr--FR"]


@pytest.mark.parametrize(("value", "expected"), LANGS.items(), ids=LANGS.keys())
def test_normalize_lang_supported(value: str, expected: str) -> None:
    assert normalize_lang(value) == expected
    assert normalize_lang(value, "de" if expected != "de" else "en") == expected


@pytest.mark.parametrize("value", UNSUPPORTED_LANGS, ids=[repr(v) for v in UNSUPPORTED_LANGS])
@pytest.mark.parametrize("default", ["en", "fr", "de"])
def test_normalize_lang_unsupported_gives_default(value: str | None, default: str) -> None:
    assert normalize_lang(value, default) == default


def test_normalize_lang_default_is_meltingspot_default() -> None:
    assert MELTINGSPOT_DEFAULT_LANG == "en"
    assert normalize_lang(None) == "en"
    assert normalize_lang("es") == "en"


# --- timezones --------------------------------------------------------------------------

TIMEZONES = {
    "Europe/London": "Europe/London",
    "europe/paris": "Europe/Paris",
    "AMERICA/NEW_YORK": "America/New_York",
    " Europe/Berlin ": "Europe/Berlin",
    "UTC": "UTC",
    "utc": "UTC",
    "Etc/GMT+2": "Etc/GMT+2",
}
BAD_TIMEZONES = ["Mars/Phobos", "", "UTC+2", "Europe", "Paris", "Europe/Paris/X", "+02:00"]


@pytest.mark.parametrize(("value", "expected"), TIMEZONES.items(), ids=TIMEZONES.keys())
def test_canonical_timezone_known(value: str, expected: str) -> None:
    assert canonical_timezone(value) == expected
    assert normalize_timezone(value) == expected
    assert normalize_timezone(value, "Asia/Tokyo") == expected


@pytest.mark.parametrize("value", BAD_TIMEZONES, ids=[repr(v) for v in BAD_TIMEZONES])
def test_canonical_timezone_unknown(value: str) -> None:
    assert canonical_timezone(value) is None


@pytest.mark.parametrize(
    "value", [*BAD_TIMEZONES, None], ids=[repr(v) for v in [*BAD_TIMEZONES, None]]
)
@pytest.mark.parametrize("default", ["Europe/Paris", "Asia/Tokyo"])
def test_normalize_timezone_unknown_gives_default(value: str | None, default: str) -> None:
    assert normalize_timezone(value, default) == default


def test_normalize_timezone_default_is_meltingspot_default() -> None:
    assert MELTINGSPOT_DEFAULT_TIMEZONE == "Europe/Paris"
    assert normalize_timezone(None) == "Europe/Paris"


# --- SpotClaims lang / timezone ------------------------------------------------------------


@pytest.mark.parametrize("lang", SUPPORTED_LANGS)
def test_spot_claims_accepts_supported_lang(lang: str) -> None:
    assert claims(lang=lang).lang == lang


@pytest.mark.parametrize("lang", ["fr-FR", "FR", "es", "", None, _MISSING])
def test_spot_claims_refuses_unnormalised_lang(lang: Any) -> None:
    refused(SpotClaims, "lang", lang=lang)


def test_spot_claims_canonicalises_timezone() -> None:
    assert claims(timezone="europe/london").timezone == "Europe/London"


@pytest.mark.parametrize("timezone", ["Mars/Phobos", "UTC+2", "", None, _MISSING])
def test_spot_claims_refuses_unknown_timezone(timezone: Any) -> None:
    refused(SpotClaims, "timezone", timezone=timezone)


# --- SpotClaims.for_member ------------------------------------------------------------------


def test_for_member_sets_iat_and_exp() -> None:
    result = SpotClaims.for_member(member(), issued_at=IAT, ttl_seconds=TTL)
    assert result.iat == IAT
    assert result.exp == IAT + TTL


@pytest.mark.parametrize("ttl", [1, 60, 3600])
def test_for_member_exp_is_iat_plus_ttl(ttl: int) -> None:
    result = SpotClaims.for_member(member(), issued_at=IAT, ttl_seconds=ttl)
    assert result.exp - result.iat == ttl


def test_for_member_copies_member_fields() -> None:
    source = member(title="Analyst", avatar_url="https://example.com/a.png")
    result = SpotClaims.for_member(source, issued_at=IAT, ttl_seconds=TTL)
    for field in ["sub", "first_name", "last_name", "email", "title", "avatar_url"]:
        assert getattr(result, field) == getattr(source, field)


@pytest.mark.parametrize(
    ("lang", "default", "expected"),
    [
        (None, "en", "en"),
        (None, "de", "de"),
        ("es", "fr", "fr"),
        ("zz-ZZ", "de", "de"),
        ("fr-FR", "de", "fr"),
        ("DE", "en", "de"),
    ],
    ids=["absent-en", "absent-de", "unsupported", "malformed", "fr-FR", "upper-DE"],
)
def test_for_member_lang(lang: str | None, default: str, expected: str) -> None:
    result = SpotClaims.for_member(
        member(lang=lang), issued_at=IAT, ttl_seconds=TTL, default_lang=default
    )
    assert result.lang == expected


@pytest.mark.parametrize(
    ("timezone", "default", "expected"),
    [
        (None, "Europe/Paris", "Europe/Paris"),
        (None, "Europe/Berlin", "Europe/Berlin"),
        ("Mars/Phobos", "Europe/Berlin", "Europe/Berlin"),
        ("UTC+2", "Asia/Tokyo", "Asia/Tokyo"),
        ("", "Asia/Tokyo", "Asia/Tokyo"),
        ("europe/london", "Europe/Berlin", "Europe/London"),
    ],
    ids=["absent-paris", "absent-berlin", "unknown", "offset", "empty", "lower-case"],
)
def test_for_member_timezone(timezone: str | None, default: str, expected: str) -> None:
    result = SpotClaims.for_member(
        member(timezone=timezone), issued_at=IAT, ttl_seconds=TTL, default_timezone=default
    )
    assert result.timezone == expected


def test_for_member_meltingspot_defaults() -> None:
    result = SpotClaims.for_member(member(), issued_at=IAT, ttl_seconds=TTL)
    assert (result.lang, result.timezone) == ("en", "Europe/Paris")


def test_for_member_passes_extra_claims() -> None:
    result = SpotClaims.for_member(
        member(), issued_at=IAT, ttl_seconds=TTL, groups_join=["g1"], domains_unset=["old"]
    )
    assert result.groups_join == ["g1"]
    assert result.domains_unset == ["old"]


@pytest.mark.parametrize("ttl", [0, -1, -60], ids=["zero", "minus-one", "minus-minute"])
def test_for_member_non_positive_ttl_is_refused(ttl: int) -> None:
    with pytest.raises(ValidationError, match="exp must be later than iat"):
        SpotClaims.for_member(member(), issued_at=IAT, ttl_seconds=ttl)


def test_for_member_unknown_extra_claim_is_refused() -> None:
    with pytest.raises(ValidationError):
        SpotClaims.for_member(member(), issued_at=IAT, ttl_seconds=TTL, admin=True)


# --- SpotClaims consistency ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("iat", "exp"),
    [(IAT, IAT), (IAT, IAT - 1), (IAT, 0)],
    ids=["exp-equals-iat", "exp-before-iat", "exp-zero"],
)
def test_exp_not_after_iat_is_refused(iat: int, exp: int) -> None:
    with pytest.raises(ValidationError, match="exp must be later than iat"):
        claims(iat=iat, exp=exp)


def test_exp_one_second_after_iat_is_accepted() -> None:
    assert claims(iat=IAT, exp=IAT + 1).exp == IAT + 1


@pytest.mark.parametrize("field", ["iat", "exp"])
def test_negative_or_missing_times_are_refused(field: str) -> None:
    refused(SpotClaims, field, **{field: -1})
    refused(SpotClaims, field, **{field: _MISSING})


@pytest.mark.parametrize(
    ("join", "leave"),
    [(["g1"], ["g1"]), (["g1", "g2"], ["g3", "g2"]), (["  g1 "], ["g1"])],
    ids=["same", "one-of-several", "after-stripping"],
)
def test_group_both_joined_and_left_is_refused(join: list[str], leave: list[str]) -> None:
    with pytest.raises(ValidationError, match="groups both joined and left"):
        claims(groups_join=join, groups_leave=leave)


def test_disjoint_groups_are_accepted() -> None:
    result = claims(groups_join=["g1", "g2"], groups_leave=["g3"])
    assert (result.groups_join, result.groups_leave) == (["g1", "g2"], ["g3"])


KEY_FIELDS = {
    "groups_join": lambda key: [key],
    "groups_leave": lambda key: [key],
    "domains_unset": lambda key: [key],
    "custom_properties": lambda key: {key: "value"},
    "domains_set": lambda key: {key: "https://example.com/embed"},
}


@pytest.mark.parametrize("field", KEY_FIELDS)
@pytest.mark.parametrize(
    "key", ["", "   ", "a\nb", "a\x00b", "k" * 256], ids=["empty", "blank", "newline", "nul", "256"]
)
def test_bad_keys_are_refused(field: str, key: str) -> None:
    refused(SpotClaims, field, **{field: KEY_FIELDS[field](key)})


@pytest.mark.parametrize("field", KEY_FIELDS)
def test_key_of_255_chars_is_accepted(field: str) -> None:
    value = KEY_FIELDS[field]("k" * 255)
    assert getattr(claims(**{field: value}), field) == value


@pytest.mark.parametrize("url", ["ftp://example.com", "/embed", "https://u:p@example.com/"])
def test_domains_set_urls_are_checked(url: str) -> None:
    refused(SpotClaims, "domains_set", domains_set={"default": url})


def test_custom_property_value_over_255_is_refused() -> None:
    refused(SpotClaims, "custom_properties", custom_properties={"plan": "x" * 256})


# --- wire names -------------------------------------------------------------------------------

FULL: dict[str, Any] = {
    **CLAIMS,
    "title": "Analyst",
    "avatar_url": "https://example.com/a.png",
    "groups_join": ["g1"],
    "groups_leave": ["g2"],
    "custom_properties": {"plan": "pro"},
    "domains_set": {"default": "https://example.com/community"},
    "domains_unset": ["old"],
}


def test_wire_names_table_is_the_spec() -> None:
    assert WIRE_NAMES == {
        "sub": "sub",
        "first_name": "firstName",
        "last_name": "lastName",
        "email": "email",
        "title": "title",
        "avatar_url": "avatarUrl",
        "lang": "lang",
        "timezone": "timezone",
        "iat": "iat",
        "exp": "exp",
        "groups_join": "groups:join",
        "groups_leave": "groups:leave",
        "custom_properties": "customPropertyValue",
        "domains_set": "domains:set",
        "domains_unset": "domains:unset",
    }
    assert set(WIRE_NAMES) == set(SpotClaims.model_fields)


def test_to_wire_uses_exactly_the_wire_names() -> None:
    wire = SpotClaims(**FULL).to_wire()
    assert wire == {WIRE_NAMES[name]: value for name, value in FULL.items()}
    assert set(wire) == set(WIRE_NAMES.values())
    for name in ["firstName", "groups:join", "customPropertyValue", "domains:set", "domains:unset"]:
        assert name in wire


def test_to_wire_omits_absent_optional_claims() -> None:
    wire = claims().to_wire()
    assert wire == {
        "sub": "u-1001",
        "firstName": "Ada",
        "lastName": "Lovelace",
        "email": "ada@example.com",
        "lang": "en",
        "timezone": "Europe/Paris",
        "iat": IAT,
        "exp": IAT + TTL,
    }


def test_member_to_wire_uses_wire_names_and_omits_absent() -> None:
    assert member(lang="fr-FR").to_wire() == {
        "sub": "u-1001",
        "firstName": "Ada",
        "lastName": "Lovelace",
        "email": "ada@example.com",
        "lang": "fr-FR",
    }


def test_wire_names_are_accepted_as_input() -> None:
    wire = SpotClaims(**FULL).to_wire()
    assert SpotClaims.model_validate(wire) == SpotClaims(**FULL)
    assert Member.model_validate(
        {"sub": "u", "firstName": "A", "lastName": "B", "email": "a@example.com"}
    ) == Member(sub="u", first_name="A", last_name="B", email="a@example.com")


@BOTH
@pytest.mark.parametrize(
    "extra",
    [{"admin": True}, {"first-name": "Ada"}, {"groups": ["g1"]}, {"aud": "x"}, {"nbf": 1}],
    ids=["admin", "dashed-name", "groups", "aud", "nbf"],
)
def test_unknown_claims_are_refused(model: type[BaseModel], extra: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as info:
        model.model_validate({**MODELS[model], **extra})
    assert info.value.errors()[0]["type"] == "extra_forbidden"


@BOTH
def test_models_are_frozen(model: type[BaseModel]) -> None:
    instance = build(model)
    with pytest.raises(ValidationError):
        instance.sub = "other"  # type: ignore[attr-defined]


# --- properties -------------------------------------------------------------------------------

# No control characters (Cc), surrogates (Cs) or line/paragraph separators (Zl, Zp); the
# models strip surrounding whitespace, so the generated names are stripped as well.
NAME_CHARS = st.characters(exclude_categories=("Cc", "Cs", "Zl", "Zp"))
NAMES = st.text(NAME_CHARS, min_size=1, max_size=255).map(str.strip).filter(bool)


@given(first=NAMES, last=NAMES)
def test_for_member_round_trips_names(first: str, last: str) -> None:
    source = Member(sub="u-1", first_name=first, last_name=last, email="ada@example.com")
    result = SpotClaims.for_member(source, issued_at=IAT, ttl_seconds=TTL)
    assert (result.first_name, result.last_name) == (first, last)
    assert result.to_wire()["firstName"] == first
    assert result.to_wire()["lastName"] == last


@given(st.text())
def test_normalize_lang_always_supported(value: str) -> None:
    assert normalize_lang(value) in SUPPORTED_LANGS


@given(
    st.sampled_from(SUPPORTED_LANGS),
    st.booleans(),
    st.lists(st.text(string.ascii_letters + string.digits, min_size=1, max_size=8), max_size=3),
    st.sampled_from(["-", "_"]),
)
def test_normalize_lang_keeps_supported_primary_tag(
    lang: str, upper: bool, subtags: list[str], sep: str
) -> None:
    tag = sep.join([lang.upper() if upper else lang, *subtags])
    assert normalize_lang(tag, "zz") == lang


BIDI = {"rlo": "\u202e", "lre": "\u202a", "lri": "\u2066", "pdi": "\u2069"}


@BOTH
@pytest.mark.parametrize("char", BIDI.values(), ids=BIDI.keys())
def test_bidirectional_overrides_are_refused_in_names(model: type[BaseModel], char: str) -> None:
    refused(model, "first_name", first_name=f"Ada{char}ecalevoL")


def test_overlong_lang_falls_back_to_the_default() -> None:
    member = Member(sub="1", first_name="A", last_name="B", email="a@example.com", lang="x" * 200)
    claims = SpotClaims.for_member(member, issued_at=1, ttl_seconds=60, default_lang="de")
    assert claims.lang == "de"


def test_for_member_equals_a_full_validation_of_the_same_claims() -> None:
    """for_member validates only what it adds (the member is validated already)."""
    member = Member(
        sub="u-1",
        first_name="Ada",
        last_name="Lovelace",
        email="ada@example.com",
        title="Analyst",
        avatar_url="https://cdn.example.com/a.png",
        lang="fr-FR",
        timezone="europe/paris",
    )
    built = SpotClaims.for_member(
        member, issued_at=100, ttl_seconds=60, groups_join=["g1"], custom_properties={"k": "v"}
    )
    assert SpotClaims.model_validate(built.to_wire()).to_wire() == built.to_wire()
    assert built.lang == "fr" and built.timezone == "Europe/Paris"


@pytest.mark.parametrize(
    "extra",
    [
        {"groups_join": ["g"], "groups_leave": ["g"]},
        {"groups_join": [""]},
        {"domains_set": {"d": "ftp://x"}},
    ],
)
def test_for_member_still_validates_what_it_adds(extra: dict[str, Any]) -> None:
    member = Member(sub="u-1", first_name="A", last_name="B", email="a@example.com")
    with pytest.raises(ValidationError):
        SpotClaims.for_member(member, issued_at=100, ttl_seconds=60, **extra)
