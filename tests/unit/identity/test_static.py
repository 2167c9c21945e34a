"""The static adapter: users from files or inline, the trusted-header session."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from service.errors import ConfigError
from service.identity.base import IdentityAdapter, SessionContext
from service.identity.factory import build_adapter
from service.identity.static import StaticAdapter
from service.settings.identity import IdentityConfig, StaticAdapterConfig

ADA = {
    "id": "u-1",
    "email": "ada@example.com",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "groups": ["staff"],
}
GRACE = {"id": "u-2", "email": "grace@example.com", "first_name": "Grace", "last_name": "Hopper"}


def adapter(**config: object) -> StaticAdapter:
    return StaticAdapter.from_config(StaticAdapterConfig.model_validate(config))


async def test_users_from_a_toml_file(tmp_path: Path) -> None:
    path = tmp_path / "users.toml"
    path.write_text(
        '[[users]]\nid = "u-1"\nemail = "ada@example.com"\n'
        'first_name = "Ada"\nlast_name = "Lovelace"\n'
        'groups = ["staff"]\n[users.attributes]\ncompany = "Analytical Engines"\n'
    )
    static = adapter(users_file=str(path))
    user = await static.fetch_user("u-1")
    assert user is not None
    assert user.groups == ["staff"]
    assert user.attributes == {"company": "Analytical Engines"}
    assert await static.fetch_user("u-2") is None


@pytest.mark.parametrize("shape", ["list", "object"])
async def test_users_from_a_json_file(tmp_path: Path, shape: str) -> None:
    path = tmp_path / "users.json"
    path.write_text(json.dumps([ADA, GRACE] if shape == "list" else {"users": [ADA, GRACE]}))
    static = adapter(users_file=str(path))
    assert [u.id for u in static.users] == ["u-1", "u-2"]


async def test_file_and_inline_users_together(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    path.write_text(json.dumps([ADA]))
    static = adapter(users_file=str(path), users=[GRACE])
    assert {u.id for u in static.users} == {"u-1", "u-2"}
    assert await static.ready() == {"users": 2}


def test_overlong_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="at most 255 characters"):
        adapter(users=[{**ADA, "id": "u" * 256}])


def test_duplicate_ids_are_refused() -> None:
    with pytest.raises(ConfigError, match="duplicate user ids u-1"):
        adapter(users=[ADA, {**GRACE, "id": "u-1"}])


def test_bad_user_in_file_names_entry_and_field(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    path.write_text(json.dumps([ADA, {"id": "u-2", "email": "x@example.com"}]))
    with pytest.raises(ConfigError) as exc:
        adapter(users_file=str(path))
    assert f"{path}: users[1].first_name: Field required" in exc.value.problems


@pytest.mark.parametrize("content", ["{not json", "[[users]\n"])
def test_unreadable_files(tmp_path: Path, content: str) -> None:
    path = tmp_path / ("users.json" if content.startswith("{") else "users.toml")
    path.write_text(content)
    with pytest.raises(ConfigError, match="not valid"):
        adapter(users_file=str(path))
    with pytest.raises(ConfigError, match="cannot read it"):
        adapter(users_file=str(tmp_path / "missing.json"))


async def test_no_session_without_a_trusted_header() -> None:
    static = adapter(users=[ADA])
    ctx = SessionContext(headers={"x-forwarded-user": "u-1"}, client_ip="127.0.0.1")
    assert await static.resolve_session(ctx) is None
    assert static.forwarded_headers() == frozenset()
    assert static.login_redirect("http://127.0.0.1:8000/authorize") is None


@pytest.mark.parametrize(
    ("client_ip", "value", "expected"),
    [
        ("127.0.0.1", "u-1", "u-1"),
        ("::1", "u-1", "u-1"),
        ("127.0.0.1", " u-1 ", "u-1"),
        ("127.0.0.1", "u-9", None),
        ("127.0.0.1", "", None),
        ("203.0.113.9", "u-1", None),
        (None, "u-1", None),
        ("not-an-ip", "u-1", None),
    ],
)
async def test_trusted_header_only_from_trusted_proxies(
    client_ip: str | None, value: str, expected: str | None
) -> None:
    static = adapter(users=[ADA], trusted_header="X-Forwarded-User")
    assert static.forwarded_headers() == frozenset({"x-forwarded-user"})
    user = await static.resolve_session(
        SessionContext(headers={"x-forwarded-user": value}, client_ip=client_ip)
    )
    assert (user.id if user else None) == expected


async def test_trusted_proxy_networks_are_configurable() -> None:
    static = adapter(
        users=[ADA], trusted_header="X-Forwarded-User", trusted_header_from=["10.0.0.0/8"]
    )
    ctx = SessionContext(headers={"x-forwarded-user": "u-1"}, client_ip="10.1.2.3")
    assert await static.resolve_session(ctx) is not None
    assert (
        await static.resolve_session(SessionContext(headers=ctx.headers, client_ip="127.0.0.1"))
        is None
    )


async def test_custom_adapter_by_import_path() -> None:
    config = IdentityConfig(
        adapter="tests.support.adapters:FailingAdapter", options={"mode": "denied"}
    )
    async with httpx.AsyncClient() as http:
        built = build_adapter(config, http)
        assert isinstance(built, IdentityAdapter)
        assert await built.ready() == {"mode": "denied"}


@pytest.mark.parametrize(
    ("path", "options", "message"),
    [
        ("tests.support.adapters:Nope", {}, "cannot import"),
        ("no_such_module:Adapter", {}, "cannot import"),
        ("tests.support.adapters:FailingAdapter", {"mode": "odd"}, "refused them"),
        ("tests.support.adapters:FailingAdapter", {"colour": "red"}, "refused them"),
        ("tests.support.adapters:Incomplete", {}, "lacks resolve_session"),
        ("tests.support.adapters:NeedsToken", {}, "KeyError: 'api_token'"),
    ],
)
async def test_custom_adapter_problems(path: str, options: dict[str, object], message: str) -> None:
    async with httpx.AsyncClient() as http:
        with pytest.raises(ConfigError, match=message):
            build_adapter(IdentityConfig(adapter=path, options=options), http)


def test_adapter_name_must_be_known() -> None:
    with pytest.raises(ValueError, match="must be 'static'"):
        IdentityConfig(adapter="ldap")
