"""Table tests for the Spot rules and the mapping from a host profile to claims.

Pure and fast: ``SpotRules`` and ``UserProfile`` are built directly, nothing is signed.
Covers group sync, custom properties, domains, the access rule, the caller's explicit
values, ``member_from_profile`` and the reason given for every claim value.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from service.contract.claims import WIRE_NAMES, Member, SpotClaims
from service.contract.membership import (
    DomainChanges,
    Explicit,
    GroupChanges,
    Reason,
    RuleClaims,
    apply_rules,
    check_access,
    member_from_profile,
    merge_explicit,
    settle,
)
from service.contract.rules import DomainRules, PropertyConstant, SpotRules
from service.errors import InvalidRequest, ProfileUnusable, UserNotAllowed
from service.identity.base import UserProfile

SPOT = "main"


def make_rules(**data: Any) -> SpotRules:
    return SpotRules.model_validate(data)


def make_profile(groups: tuple[str, ...] | list[str] = (), **extra: Any) -> UserProfile:
    fields: dict[str, Any] = {
        "id": "u-1",
        "email": "ada@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        **extra,
    }
    return UserProfile(groups=list(groups), **fields)


MEMBER = Member(sub="u-9", first_name="Grace", last_name="Hopper", email="grace@example.com")


# --- group sync ---------------------------------------------------------------------------

STAFF_SALES = {"staff": ["g-staff"], "sales": ["g-sales"]}
SHARED = {"staff": ["g-team"], "contractors": ["g-team"], "sales": ["g-sales"]}
FAN_OUT = {"premium": ["g-premium", "g-vip", "g-news"], "staff": ["g-staff"]}


@pytest.mark.parametrize(
    ("groups", "has", "join", "leave"),
    [
        pytest.param(STAFF_SALES, ["staff"], {"g-staff"}, {"g-sales"}, id="gains-mapped-group"),
        pytest.param(STAFF_SALES, ["sales"], {"g-sales"}, {"g-staff"}, id="loses-mapped-group"),
        pytest.param(
            STAFF_SALES, ["staff", "sales"], {"g-staff", "g-sales"}, set(), id="has-every-group"
        ),
        pytest.param(STAFF_SALES, [], set(), {"g-staff", "g-sales"}, id="no-groups-leaves-all"),
        pytest.param(
            STAFF_SALES,
            ["guests", "unknown"],
            set(),
            {"g-staff", "g-sales"},
            id="only-unmapped-host-groups-leaves-all",
        ),
        pytest.param(
            STAFF_SALES, ["staff", "guests"], {"g-staff"}, {"g-sales"}, id="unmapped-host-ignored"
        ),
        pytest.param(SHARED, ["staff"], {"g-team"}, {"g-sales"}, id="shared-via-first"),
        pytest.param(SHARED, ["contractors"], {"g-team"}, {"g-sales"}, id="shared-via-second"),
        pytest.param(
            SHARED, ["staff", "contractors"], {"g-team"}, {"g-sales"}, id="shared-via-both"
        ),
        pytest.param(SHARED, ["sales"], {"g-sales"}, {"g-team"}, id="shared-via-neither"),
        pytest.param(
            FAN_OUT,
            ["premium"],
            {"g-premium", "g-vip", "g-news"},
            {"g-staff"},
            id="one-host-group-many-spot-groups",
        ),
        pytest.param(
            FAN_OUT,
            ["staff"],
            {"g-staff"},
            {"g-premium", "g-vip", "g-news"},
            id="one-host-group-many-spot-groups-lost",
        ),
        pytest.param({}, ["staff"], set(), set(), id="no-mapping"),
    ],
)
def test_group_sync(
    groups: dict[str, list[str]], has: list[str], join: set[str], leave: set[str]
) -> None:
    rules = make_rules(groups=groups)
    made = apply_rules(make_profile(has), rules)
    assert made.groups_join == join
    assert made.groups_leave == leave
    assert not made.groups_join & made.groups_leave
    # Spot groups the rules do not map are never touched.
    assert made.groups_join | made.groups_leave == rules.mapped_groups


@pytest.mark.parametrize(
    "has",
    [pytest.param([], id="no-groups"), pytest.param(["staff", "admins"], id="with-groups")],
)
def test_empty_rules_give_empty_claims(has: list[str]) -> None:
    profile = make_profile(has, title="Analyst", attributes={"company": "Acme"})
    made = apply_rules(profile, make_rules())
    assert made.claims() == {}
    assert made.reasons == []


@pytest.mark.parametrize(
    ("made", "expected"),
    [
        pytest.param(RuleClaims(), {}, id="all-empty"),
        pytest.param(
            RuleClaims(groups_join={"b", "c", "a"}),
            {"groups_join": ["a", "b", "c"]},
            id="join-sorted-others-left-out",
        ),
        pytest.param(
            RuleClaims(groups_leave={"z", "y"}, domains_unset={"s", "r"}),
            {"groups_leave": ["y", "z"], "domains_unset": ["r", "s"]},
            id="leave-and-unset-sorted",
        ),
        pytest.param(
            RuleClaims(custom_properties={"zeta": "1", "alpha": "2"}),
            {"custom_properties": {"alpha": "2", "zeta": "1"}},
            id="properties-sorted",
        ),
        pytest.param(
            RuleClaims(domains_set={"w": "https://w.example", "d": "https://d.example"}),
            {"domains_set": {"d": "https://d.example", "w": "https://w.example"}},
            id="domains-sorted",
        ),
    ],
)
def test_rule_claims_leave_out_empty_and_sort(made: RuleClaims, expected: dict[str, Any]) -> None:
    claims = made.claims()
    assert claims == expected
    for value in claims.values():
        assert value  # nothing empty
        items = list(value)  # dict keys or list items, in the order they will be sent
        assert items == sorted(items)


# --- custom properties --------------------------------------------------------------------

ATTRIBUTES: dict[str, Any] = {
    "company": "Acme",
    "nested": {"deep": "down here"},
    "roles": ["reader", "writer"],
    "seats": 42,
    "zero": 0,
    "ratio": 1.5,
    "active": True,
    "suspended": False,
    "tags": ["a", 1, 2.5],
    "address": {"city": "Zürich", "zip": 8001},
    "nothing": None,
    "blank": "",
    "none_left": [],
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param("attributes.company", "Acme", id="attribute"),
        pytest.param("title", "Analyst", id="top-level-field"),
        pytest.param("attributes.nested.deep", "down here", id="nested-path"),
        pytest.param("groups", "a, b", id="groups-comma-joined"),
        pytest.param("attributes.roles.1", "writer", id="list-index"),
        pytest.param("attributes.seats", "42", id="int"),
        pytest.param("attributes.zero", "0", id="zero-is-a-value"),
        pytest.param("attributes.ratio", "1.5", id="float"),
        pytest.param("attributes.active", "true", id="bool-true"),
        pytest.param("attributes.suspended", "false", id="bool-false"),
        pytest.param("attributes.tags", "a, 1, 2.5", id="list"),
        pytest.param("attributes.address", '{"city": "Zürich", "zip": 8001}', id="dict-json"),
        pytest.param("attributes.missing", None, id="missing-attribute"),
        pytest.param("attributes.company.name", None, id="path-through-a-string"),
        pytest.param("attributes.roles.7", None, id="index-out-of-range"),
        pytest.param("locale", None, id="field-none"),
        pytest.param("attributes.nothing", None, id="attribute-none"),
        pytest.param("attributes.blank", None, id="empty-string"),
        pytest.param("attributes.none_left", None, id="empty-list"),
    ],
)
def test_property_from_path(path: str, expected: str | None) -> None:
    rules = make_rules(properties={"prop": path})
    profile = make_profile(["a", "b"], title="Analyst", attributes=ATTRIBUTES)
    made = apply_rules(profile, rules)
    reasons = [r for r in made.reasons if r.claim == "customPropertyValue.prop"]
    assert len(reasons) == 1
    assert reasons[0].value == expected
    assert path in reasons[0].source
    if expected is None:
        assert "prop" not in made.custom_properties
        assert "custom_properties" not in made.claims()
    else:
        assert made.custom_properties == {"prop": expected}
        assert made.claims()["custom_properties"] == {"prop": expected}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param([True, False], "true, false", id="bools-in-list"),
        pytest.param([{"a": 1}], '{"a": 1}', id="dict-in-list"),
        pytest.param([None], None, id="list-of-none-left-out"),
        pytest.param([""], None, id="list-of-empty-string-left-out"),
        pytest.param("   ", None, id="blank-string-left-out"),
    ],
)
def test_property_list_items_rendered_like_values(value: Any, expected: str | None) -> None:
    rules = make_rules(properties={"prop": "attributes.value"})
    made = apply_rules(make_profile(attributes={"value": value}), rules)
    assert made.custom_properties.get("prop") == expected


@pytest.mark.parametrize(
    ("length", "cut"),
    [
        pytest.param(254, False, id="254-kept"),
        pytest.param(255, False, id="255-kept"),
        pytest.param(256, True, id="256-cut"),
        pytest.param(1000, True, id="1000-cut"),
    ],
)
def test_long_property_cut_to_255(length: int, cut: bool) -> None:
    value = "é" * length
    rules = make_rules(properties={"bio": "attributes.bio"})
    made = apply_rules(make_profile(attributes={"bio": value}), rules)
    assert made.custom_properties["bio"] == value[:255]
    (reason,) = [r for r in made.reasons if r.claim == "customPropertyValue.bio"]
    assert reason.value == value[:255]
    assert ("cut to 255" in reason.source) is cut


@pytest.mark.parametrize(
    "constant",
    [
        pytest.param({"value": "gold"}, id="table"),
        pytest.param(PropertyConstant(value="gold"), id="model"),
    ],
)
def test_property_constant(constant: Any) -> None:
    rules = make_rules(properties={"tier": constant, "company": "attributes.company"})
    for profile in (make_profile(), make_profile(["x"], attributes={"company": "Acme"})):
        made = apply_rules(profile, rules)
        assert made.custom_properties["tier"] == "gold"
        (reason,) = [r for r in made.reasons if r.claim == "customPropertyValue.tier"]
        assert reason.value == "gold"
        assert "properties.tier" in reason.source
        assert "constant" in reason.source


@pytest.mark.parametrize(
    "properties",
    [
        pytest.param({"p": "attributes..company"}, id="empty-path-part"),
        pytest.param({"p": ".company"}, id="leading-dot"),
        pytest.param({"p": "attributes company"}, id="space-in-path"),
        pytest.param({"p": ""}, id="empty-path"),
        pytest.param({"p": {"value": "x" * 256}}, id="constant-too-long"),
        pytest.param({"p": {"value": "gold", "other": 1}}, id="constant-unknown-key"),
        pytest.param({"": "title"}, id="empty-key"),
    ],
)
def test_bad_property_rules_refused(properties: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        make_rules(properties=properties)


# --- domains ------------------------------------------------------------------------------

URLS = {
    "default": "https://community.example.com",
    "premium": "https://premium.example.com/spot",
    "partners": "http://partners.example.com:8080/embed",
}
BY_GROUP = {"premium": ["premium"], "partners": ["partners"], "gold": ["premium", "partners"]}


@pytest.mark.parametrize(
    ("domains", "has", "set_keys", "unset"),
    [
        pytest.param({"urls": URLS}, [], set(URLS), set(), id="no-by-group-all-for-everyone"),
        pytest.param(
            {"urls": URLS}, ["premium"], set(URLS), set(), id="no-by-group-groups-irrelevant"
        ),
        pytest.param(
            {"urls": URLS, "by_group": BY_GROUP},
            [],
            {"default"},
            {"premium", "partners"},
            id="no-group-only-unbound",
        ),
        pytest.param(
            {"urls": URLS, "by_group": BY_GROUP},
            ["premium"],
            {"default", "premium"},
            {"partners"},
            id="one-granting-group",
        ),
        pytest.param(
            {"urls": URLS, "by_group": BY_GROUP},
            ["gold"],
            set(URLS),
            set(),
            id="group-granting-two-keys",
        ),
        pytest.param(
            {"urls": URLS, "by_group": BY_GROUP},
            ["premium", "gold", "guests"],
            set(URLS),
            set(),
            id="key-granted-twice",
        ),
        pytest.param(
            {"urls": URLS, "by_group": {"admins": []}},
            [],
            set(URLS),
            set(),
            id="group-granting-nothing",
        ),
        pytest.param({}, ["premium"], set(), set(), id="no-domains"),
    ],
)
def test_domains(
    domains: dict[str, Any], has: list[str], set_keys: set[str], unset: set[str]
) -> None:
    made = apply_rules(make_profile(has), make_rules(domains=domains))
    assert made.domains_set == {key: URLS[key] for key in set_keys}
    assert made.domains_unset == unset


@pytest.mark.parametrize(
    "domains",
    [
        pytest.param(
            {"urls": {"default": "https://a.example"}, "by_group": {"premium": ["premium"]}},
            id="by-group-key-missing-from-urls",
        ),
        pytest.param({"by_group": {"premium": ["default"]}}, id="by-group-without-urls"),
        pytest.param({"urls": {"default": "ftp://files.example.com/"}}, id="ftp-url"),
        pytest.param({"urls": {"default": "/spot/embed"}}, id="relative-url"),
        pytest.param({"urls": {"default": "community.example.com"}}, id="no-scheme"),
        pytest.param({"urls": {"default": "javascript:alert(1)"}}, id="javascript-url"),
        pytest.param({"urls": {"default": "https://"}}, id="no-host"),
        pytest.param({"urls": {"default": "https://u:p@example.com"}}, id="credentials"),
        pytest.param({"urls": {"default": "https://example.com/a b"}}, id="space"),
        pytest.param({"urls": {"": "https://example.com"}}, id="empty-key"),
        pytest.param({"urls": {}, "extra": 1}, id="unknown-setting"),
    ],
)
def test_bad_domain_rules_refused(domains: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        make_rules(domains=domains)


def test_by_group_error_names_the_missing_key() -> None:
    with pytest.raises(ValidationError, match="premium"):
        DomainRules.model_validate({"urls": {"default": URLS["default"]}, "by_group": BY_GROUP})


@pytest.mark.parametrize(
    ("has", "join", "leave"),
    [
        pytest.param(["staff"], {"g-team"}, set(), id="via-the-padded-id"),
        pytest.param(["sales"], {"g-team"}, set(), id="via-the-plain-id"),
        pytest.param([], set(), {"g-team"}, id="neither"),
    ],
)
def test_padded_spot_group_ids_are_the_same_group(
    has: list[str], join: set[str], leave: set[str]
) -> None:
    """Group IDs are stripped where they are read: " g-team" is g-team, one group mapped
    from two host groups, joined while the user has either, left when they have neither."""
    rules = make_rules(groups={"staff": [" g-team"], "sales": ["g-team"]})
    assert rules.groups == {"staff": ["g-team"], "sales": ["g-team"]}
    assert rules.mapped_groups == {"g-team"}
    profile = make_profile(has)
    made = apply_rules(profile, rules)
    assert (made.groups_join, made.groups_leave) == (join, leave)
    claims = SpotClaims.for_member(
        member_from_profile(profile), issued_at=1, ttl_seconds=60, **made.claims()
    )
    assert (claims.groups_join, claims.groups_leave) == (
        sorted(join) or None,
        sorted(leave) or None,
    )


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({"groups": {"staff": []}}, id="host-group-mapped-to-nothing"),
        pytest.param({"groups": {"staff": [""]}}, id="empty-spot-group-id"),
        pytest.param({"groups": {"staff": ["g\nx"]}}, id="control-char-in-spot-group-id"),
        pytest.param({"unknown": True}, id="unknown-setting"),
    ],
)
def test_bad_group_rules_refused(data: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        make_rules(**data)


# --- access -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("require", "has", "allowed"),
    [
        pytest.param([], [], True, id="no-rule-no-groups"),
        pytest.param([], ["guests"], True, id="no-rule-any-groups"),
        pytest.param(["staff", "admins"], ["staff"], True, id="first-of-any"),
        pytest.param(["staff", "admins"], ["admins", "guests"], True, id="second-of-any"),
        pytest.param(["staff", "admins"], ["staff", "admins"], True, id="both"),
        pytest.param(["staff", "admins"], ["guests"], False, id="none-of-them"),
        pytest.param(["staff", "admins"], [], False, id="no-groups"),
        pytest.param(["staff"], ["Staff"], False, id="case-sensitive"),
    ],
)
def test_check_access(require: list[str], has: list[str], allowed: bool) -> None:
    rules = make_rules(require_groups=require)
    if allowed:
        check_access(make_profile(has), rules, SPOT)
        return
    with pytest.raises(UserNotAllowed) as caught:
        check_access(make_profile(has), rules, SPOT)
    assert caught.value.status == 403
    assert SPOT in caught.value.detail


def test_settle_checks_access_before_anything_else() -> None:
    rules = make_rules(
        require_groups=["staff"],
        groups={"staff": ["g-staff"]},
        properties={"tier": {"value": "gold"}},
    )
    # The email is unusable too: refusing access must come first, with no claims made.
    profile = make_profile(["guests"], email="not-an-email")
    with pytest.raises(UserNotAllowed):
        settle(profile, None, rules, SPOT)
    explicit = Explicit(groups=GroupChanges(join=["g-x"]))
    with pytest.raises(UserNotAllowed):
        settle(profile, None, rules, SPOT, explicit=explicit)


def test_settle_allowed_user_gets_rule_claims() -> None:
    rules = make_rules(require_groups=["staff"], groups={"staff": ["g-staff"]})
    member, made = settle(make_profile(["staff"]), None, rules, SPOT)
    assert member.sub == "u-1"
    assert made.claims() == {"groups_join": ["g-staff"]}


def test_two_spots_give_one_user_different_claims() -> None:
    profile = make_profile(["staff"], attributes={"company": "Acme"})
    community = make_rules(
        groups={"staff": ["c-staff"], "sales": ["c-sales"]},
        properties={"company": "attributes.company"},
    )
    academy = make_rules(
        groups={"staff": ["a-teachers"]},
        properties={"tier": {"value": "gold"}},
        domains={"urls": {"default": "https://academy.example.com"}},
    )
    _, made_community = settle(profile, None, community, "community")
    _, made_academy = settle(profile, None, academy, "academy")
    assert made_community.claims() == {
        "groups_join": ["c-staff"],
        "groups_leave": ["c-sales"],
        "custom_properties": {"company": "Acme"},
    }
    assert made_academy.claims() == {
        "groups_join": ["a-teachers"],
        "custom_properties": {"tier": "gold"},
        "domains_set": {"default": "https://academy.example.com"},
    }


# --- explicit values ----------------------------------------------------------------------

EXPLICIT_RULES: dict[str, Any] = {
    "groups": {"staff": ["g-staff"], "sales": ["g-sales"]},
    "properties": {"company": "attributes.company", "tier": {"value": "gold"}},
    "domains": {"urls": URLS, "by_group": {"premium": ["premium"]}},
}
RULE_CLAIMS: dict[str, Any] = {
    "groups_join": ["g-staff"],
    "groups_leave": ["g-sales"],
    "custom_properties": {"company": "Acme", "tier": "gold"},
    "domains_set": {"default": URLS["default"], "partners": URLS["partners"]},
    "domains_unset": ["premium"],
}


@pytest.mark.parametrize(
    ("explicit", "changes"),
    [
        pytest.param(Explicit(), {}, id="nothing-explicit"),
        pytest.param(
            Explicit(groups=GroupChanges(join=["g-sales"])),
            {"groups_join": ["g-sales", "g-staff"], "groups_leave": None},
            id="join-a-group-rules-leave",
        ),
        pytest.param(
            Explicit(groups=GroupChanges(leave=["g-staff"])),
            {"groups_join": None, "groups_leave": ["g-sales", "g-staff"]},
            id="leave-a-group-rules-join",
        ),
        pytest.param(
            Explicit(groups=GroupChanges(join=["g-other"], leave=["g-gone"])),
            {"groups_join": ["g-other", "g-staff"], "groups_leave": ["g-gone", "g-sales"]},
            id="unmapped-groups-added",
        ),
        pytest.param(
            Explicit(custom_properties={"tier": "platinum"}),
            {"custom_properties": {"company": "Acme", "tier": "platinum"}},
            id="property-overrides-one-key",
        ),
        pytest.param(
            Explicit(custom_properties={"plan": "pro"}),
            {"custom_properties": {"company": "Acme", "plan": "pro", "tier": "gold"}},
            id="property-added",
        ),
        pytest.param(
            Explicit(domains=DomainChanges(set={"premium": "https://mine.example.com"})),
            {
                "domains_set": {
                    "default": URLS["default"],
                    "partners": URLS["partners"],
                    "premium": "https://mine.example.com",
                },
                "domains_unset": None,
            },
            id="domain-set-removes-from-unset",
        ),
        pytest.param(
            Explicit(domains=DomainChanges(set={"default": "https://mine.example.com"})),
            {"domains_set": {"default": "https://mine.example.com", "partners": URLS["partners"]}},
            id="domain-set-overrides-rule-url",
        ),
        pytest.param(
            Explicit(domains=DomainChanges(unset=["default"])),
            {
                "domains_set": {"partners": URLS["partners"]},
                "domains_unset": ["default", "premium"],
            },
            id="domain-unset-removes-rule-set-key",
        ),
        pytest.param(
            Explicit(domains=DomainChanges(unset=["partners", "default"])),
            {"domains_set": None, "domains_unset": ["default", "partners", "premium"]},
            id="domain-unset-everything",
        ),
    ],
)
def test_explicit_values_win_key_by_key(explicit: Explicit, changes: dict[str, Any]) -> None:
    profile = make_profile(["staff"], attributes={"company": "Acme"})
    rules = make_rules(**EXPLICIT_RULES)
    expected = {k: v for k, v in (RULE_CLAIMS | changes).items() if v is not None}
    assert apply_rules(profile, rules).claims() == RULE_CLAIMS
    # Both ways in: merge_explicit directly and settle(..., explicit=...).
    assert merge_explicit(apply_rules(profile, rules), explicit).claims() == expected
    _, made = settle(profile, None, rules, SPOT, explicit=explicit)
    assert made.claims() == expected
    assert not made.groups_join & made.groups_leave
    assert not set(made.domains_set) & made.domains_unset


@pytest.mark.parametrize(
    ("explicit", "pointers"),
    [
        pytest.param(
            Explicit(groups=GroupChanges(join=["g-a", "g-b"], leave=["g-b"])),
            ["/groups"],
            id="join-and-leave-same-group",
        ),
        pytest.param(
            Explicit(
                domains=DomainChanges(set={"default": "https://a.example"}, unset=["default"])
            ),
            ["/domains"],
            id="set-and-unset-same-domain",
        ),
        pytest.param(
            Explicit(
                groups=GroupChanges(join=["g-a"], leave=["g-a"]),
                domains=DomainChanges(set={"default": "https://a.example"}, unset=["default"]),
            ),
            ["/groups", "/domains"],
            id="both-contradictions",
        ),
    ],
)
def test_contradicting_explicit_values_refused(explicit: Explicit, pointers: list[str]) -> None:
    profile = make_profile(["staff"])
    rules = make_rules(**EXPLICIT_RULES)
    calls = [
        lambda: merge_explicit(apply_rules(profile, rules), explicit),
        lambda: settle(profile, None, rules, SPOT, explicit=explicit),
        lambda: settle(None, MEMBER, rules, SPOT, explicit=explicit),
    ]
    for call in calls:
        with pytest.raises(InvalidRequest) as caught:
            call()
        assert caught.value.status == 422
        assert [e.pointer for e in caught.value.errors] == pointers


@pytest.mark.parametrize(
    ("explicit", "expected"),
    [
        pytest.param(None, {}, id="no-explicit-no-claims"),
        pytest.param(Explicit(), {}, id="empty-explicit"),
        pytest.param(
            Explicit(
                groups=GroupChanges(join=["g-x"], leave=["g-y"]),
                custom_properties={"plan": "pro"},
                domains=DomainChanges(set={"default": "https://mine.example.com"}, unset=["old"]),
            ),
            {
                "groups_join": ["g-x"],
                "groups_leave": ["g-y"],
                "custom_properties": {"plan": "pro"},
                "domains_set": {"default": "https://mine.example.com"},
                "domains_unset": ["old"],
            },
            id="only-explicit-values",
        ),
    ],
)
def test_member_without_profile_gets_no_rules(
    explicit: Explicit | None, expected: dict[str, Any]
) -> None:
    # Rules that would join, leave, set properties and domains, and refuse everyone.
    rules = make_rules(**EXPLICIT_RULES, require_groups=["nobody-has-this"])
    member, made = settle(None, MEMBER, rules, SPOT, explicit=explicit)
    assert member is MEMBER
    assert made.claims() == expected


def test_settle_needs_a_profile_or_a_member() -> None:
    with pytest.raises(ValueError, match="profile or a member"):
        settle(None, None, make_rules(), SPOT)


# --- member_from_profile ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "pointers"),
    [
        pytest.param({"email": "not-an-email"}, ["/email"], id="email-no-at"),
        pytest.param({"email": "ada@"}, ["/email"], id="email-no-domain"),
        pytest.param({"email": ""}, ["/email"], id="email-empty"),
        pytest.param({"email": "a" * 250 + "@example.com"}, ["/email"], id="email-too-long"),
        pytest.param({"email": "ada @example.com"}, ["/email"], id="email-with-space"),
        pytest.param({"id": "   "}, ["/id"], id="blank-id-named-as-profile-field"),
        pytest.param({"first_name": "A\nda"}, ["/first_name"], id="first-name-line-break"),
        pytest.param({"last_name": "x" * 256}, ["/last_name"], id="last-name-too-long"),
        pytest.param({"avatar_url": "ftp://x.example/a.png"}, ["/avatar_url"], id="avatar-ftp"),
        pytest.param(
            {"email": "nope", "first_name": " "}, ["/first_name", "/email"], id="two-bad-fields"
        ),
    ],
)
def test_unusable_profile_names_the_field(fields: dict[str, Any], pointers: list[str]) -> None:
    with pytest.raises(ProfileUnusable) as caught:
        member_from_profile(make_profile(**fields))
    assert caught.value.status == 502
    assert sorted(e.pointer for e in caught.value.errors) == sorted(pointers)
    for pointer in pointers:
        assert pointer.lstrip("/") in caught.value.detail


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param({}, {"sub": "u-1", "lang": None, "timezone": None}, id="minimal"),
        pytest.param(
            {"id": "host-42", "locale": "fr-FR", "timezone": "Europe/London"},
            {"sub": "host-42", "lang": "fr-FR", "timezone": "Europe/London"},
            id="id-to-sub-locale-to-lang",
        ),
        pytest.param(
            {"title": "", "avatar_url": ""},
            {"title": None, "avatar_url": None},
            id="empty-optional-fields-dropped",
        ),
        pytest.param(
            {"title": "Analyst", "avatar_url": "https://example.com/a.png"},
            {"title": "Analyst", "avatar_url": "https://example.com/a.png"},
            id="optional-fields-kept",
        ),
        pytest.param(
            {"locale": "x" * 300, "timezone": "y" * 300},
            {"lang": None, "timezone": None},
            id="overlong-locale-and-zone-dropped",
        ),
    ],
)
def test_member_from_profile(fields: dict[str, Any], expected: dict[str, Any]) -> None:
    member = member_from_profile(make_profile(**fields))
    assert (member.first_name, member.last_name, member.email) == (
        "Ada",
        "Lovelace",
        "ada@example.com",
    )
    for name, value in expected.items():
        assert getattr(member, name) == value


# --- reasons ------------------------------------------------------------------------------

FULL_RULES: dict[str, Any] = {
    "groups": {
        "staff": ["g-staff", "g-all"],
        "admins": ["g-admin", "g-staff"],
        "sales": ["g-sales"],
    },
    "properties": {
        "company": "attributes.company",
        "tier": {"value": "gold"},
        "missing": "attributes.missing",
        "bio": "attributes.bio",
    },
    "domains": {
        "urls": URLS,
        "by_group": {"premium": ["premium"], "partners": ["partners"]},
    },
}
WIRE_CLAIMS = frozenset(WIRE_NAMES.values())


def produced(made: RuleClaims) -> Iterator[tuple[str, Any]]:
    """Every claim value in ``made`` as (reason claim name, value)."""
    for group in made.groups_join:
        yield WIRE_NAMES["groups_join"], group
    for group in made.groups_leave:
        yield WIRE_NAMES["groups_leave"], group
    for key, value in made.custom_properties.items():
        yield f"{WIRE_NAMES['custom_properties']}.{key}", value
    for key, url in made.domains_set.items():
        yield f"{WIRE_NAMES['domains_set']}.{key}", url
    for key in made.domains_unset:
        yield WIRE_NAMES["domains_unset"], key


def assert_every_value_has_a_reason(made: RuleClaims) -> None:
    for reason in made.reasons:
        assert isinstance(reason, Reason)
        assert reason.claim.split(".", 1)[0] in WIRE_CLAIMS
        assert reason.source.strip()
    given_reasons = {(r.claim, r.value) for r in made.reasons}
    for claim_value in produced(made):
        assert claim_value in given_reasons


PROFILES = [
    pytest.param([], {}, id="no-groups-no-attributes"),
    pytest.param(["staff"], {"company": "Acme"}, id="staff"),
    pytest.param(["admins", "premium"], {"company": "Acme", "bio": "b" * 400}, id="admin-premium"),
    pytest.param(["staff", "admins", "sales", "premium", "partners"], {}, id="every-group"),
]


@pytest.mark.parametrize(("has", "attributes"), PROFILES)
def test_every_rule_value_has_a_reason(has: list[str], attributes: dict[str, Any]) -> None:
    made = apply_rules(make_profile(has, attributes=attributes), make_rules(**FULL_RULES))
    assert list(produced(made))
    assert_every_value_has_a_reason(made)


@pytest.mark.parametrize(("has", "attributes"), PROFILES)
@pytest.mark.parametrize(
    "explicit",
    [
        pytest.param(
            Explicit(
                groups=GroupChanges(join=["g-sales"], leave=["g-staff"]),
                custom_properties={"tier": "platinum", "plan": "pro"},
                domains=DomainChanges(set={"premium": "https://mine.example"}, unset=["default"]),
            ),
            id="explicit-everything",
        ),
        pytest.param(
            Explicit(domains=DomainChanges(set={"default": "https://mine.example"})),
            id="explicit-domain-override",
        ),
    ],
)
def test_every_merged_value_has_a_reason(
    has: list[str], attributes: dict[str, Any], explicit: Explicit
) -> None:
    profile = make_profile(has, attributes=attributes)
    _, made = settle(profile, None, make_rules(**FULL_RULES), SPOT, explicit=explicit)
    assert_every_value_has_a_reason(made)


@pytest.mark.parametrize(
    ("has", "attributes", "claim", "value", "source"),
    [
        pytest.param(["sales"], {}, "groups:join", "g-sales", "groups.sales", id="join"),
        pytest.param(
            ["admins"],
            {},
            "groups:join",
            "g-staff",
            "groups.admins",
            id="join-via-second-host-group",
        ),
        pytest.param(
            ["staff", "admins"],
            {},
            "groups:join",
            "g-staff",
            ("groups.admins", "groups.staff"),
            id="join-names-every-giver",
        ),
        pytest.param(
            [],
            {},
            "groups:leave",
            "g-staff",
            ("groups.admins", "groups.staff"),
            id="leave-names-every-giver",
        ),
        pytest.param(
            ["staff"],
            {"company": "Acme"},
            "customPropertyValue.company",
            "Acme",
            "properties.company <- attributes.company",
            id="property-path",
        ),
        pytest.param(
            [],
            {},
            "customPropertyValue.missing",
            None,
            "properties.missing",
            id="property-missing",
        ),
        pytest.param(
            [], {}, "customPropertyValue.tier", "gold", "properties.tier", id="property-constant"
        ),
        pytest.param(
            [],
            {"bio": "b" * 300},
            "customPropertyValue.bio",
            "b" * 255,
            "properties.bio <- attributes.bio",
            id="property-cut",
        ),
        pytest.param(
            [], {}, "domains:set.default", URLS["default"], "domains.urls.default", id="domain-url"
        ),
        pytest.param(
            ["premium"],
            {},
            "domains:set.premium",
            URLS["premium"],
            "domains.by_group.premium",
            id="domain-by-group",
        ),
        pytest.param(
            [],
            {},
            "domains:unset",
            "partners",
            "domains.by_group.partners",
            id="domain-unset",
        ),
    ],
)
def test_reason_names_the_rule(
    has: list[str],
    attributes: dict[str, Any],
    claim: str,
    value: Any,
    source: str | tuple[str, ...],
) -> None:
    made = apply_rules(make_profile(has, attributes=attributes), make_rules(**FULL_RULES))
    sources = [r.source for r in made.reasons if (r.claim, r.value) == (claim, value)]
    assert len(sources) == 1
    for fragment in (source,) if isinstance(source, str) else source:
        assert fragment in sources[0]


# --- property -----------------------------------------------------------------------------

HOST_GROUPS = ["staff", "admins", "sales", "premium", "guests"]
SPOT_GROUPS = ["g-1", "g-2", "g-3", "g-4", "g-5", "g-6"]


@given(
    mapping=st.dictionaries(
        st.sampled_from(HOST_GROUPS),
        st.lists(st.sampled_from(SPOT_GROUPS), min_size=1, max_size=4),
        max_size=len(HOST_GROUPS),
    ),
    has=st.sets(st.sampled_from([*HOST_GROUPS, "unmapped"])),
)
def test_group_sync_property(mapping: dict[str, list[str]], has: set[str]) -> None:
    rules = make_rules(groups=mapping)
    made = apply_rules(make_profile(sorted(has)), rules)
    assert not made.groups_join & made.groups_leave
    assert made.groups_join | made.groups_leave == rules.mapped_groups
    assert made.groups_join == {g for h in has for g in mapping.get(h, [])}
    member = member_from_profile(make_profile(sorted(has)))
    claims = SpotClaims.for_member(member, issued_at=1, ttl_seconds=60, **made.claims())
    assert set(claims.groups_join or ()) == made.groups_join
    assert set(claims.groups_leave or ()) == made.groups_leave


def test_explicit_values_replace_the_rules_reasons() -> None:
    rules = SpotRules.model_validate(
        {
            "groups": {"staff": ["g-staff"]},
            "properties": {"plan": {"value": "gold"}},
            "domains": {"urls": {"default": "https://a.example/c"}},
        }
    )
    profile = UserProfile(
        id="u", email="u@example.com", first_name="U", last_name="V", groups=["staff"]
    )
    explicit = Explicit(
        groups=GroupChanges(leave=["g-staff"]),
        custom_properties={"plan": "silver"},
        domains=DomainChanges(unset=["default"]),
    )
    _, made = settle(profile, None, rules, "main", explicit)
    sources = {(r.claim, str(r.value)): r.source for r in made.reasons}
    assert sources == {
        ("groups:leave", "g-staff"): "request: groups.leave",
        ("customPropertyValue.plan", "silver"): "request",
        ("domains:unset", "default"): "request: domains.unset",
    }
