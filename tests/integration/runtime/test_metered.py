"""Every call to the identity adapter goes through the Runtime's MeteredAdapter: the
API's, the browser flow's and the CLI's alike."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from service.cli.main import main
from service.errors import IdentityMismatch
from service.identity.base import SessionContext
from service.runtime.metered import MeteredAdapter
from service.runtime.runtime import Runtime
from tests.support.adapters import FailingAdapter
from tests.support.config import write_config
from tests.support.settings import make_settings


def counts(runtime: Runtime) -> dict[tuple[str, ...], float]:
    text = runtime.metrics.render().decode()
    return {
        (sample.name, *sample.labels.values()): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith("spot_sso_identity") and not sample.name.endswith("_created")
    }


async def test_the_runtime_keeps_only_the_metered_adapter() -> None:
    runtime = Runtime(make_settings())
    assert isinstance(runtime.adapter, MeteredAdapter)
    assert await runtime.adapter.fetch_user("u-1") is not None
    assert await runtime.adapter.fetch_user("nobody") is None
    assert await runtime.adapter.resolve_session(SessionContext()) is None
    seen = counts(runtime)
    assert seen[("spot_sso_identity_request_duration_seconds_count", "lookup")] == 2
    assert seen[("spot_sso_identity_request_duration_seconds_count", "session")] == 1
    await runtime.aclose()


async def test_failures_and_mismatches_are_counted() -> None:
    class Mixed(FailingAdapter):
        async def fetch_user(self, user_id: str):  # type: ignore[no-untyped-def]
            raise IdentityMismatch("host.example: the user lookup answered for another user")

    runtime = Runtime(make_settings(), adapter=Mixed("down"))
    with pytest.raises(IdentityMismatch):
        await runtime.adapter.fetch_user("u-1")
    seen = counts(runtime)
    assert seen[("spot_sso_identity_errors_total", "identity-bad-response", "lookup")] == 1
    assert seen[("spot_sso_identity_mismatches_total",)] == 1
    await runtime.aclose()


def test_the_cli_looks_users_up_through_the_metered_adapter(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    original = MeteredAdapter.fetch_user

    async def recording(self: MeteredAdapter, user_id: str):  # type: ignore[no-untyped-def]
        calls.append(user_id)
        return await original(self, user_id)

    monkeypatch.setattr(MeteredAdapter, "fetch_user", recording)
    config = write_config(tmp_path / "spot-sso.toml")
    assert main(["mint", "--config", str(config), "--spot", "main", "--user-id", "u-1"]) == 0
    assert calls == ["u-1"]
    capsys.readouterr()
