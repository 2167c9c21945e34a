"""The log_format setting and the --log-format option: read once, passed to every worker."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.cli.main import main
from service.errors import ConfigError
from service.settings.model import load_settings
from tests.support.config import write_config
from tests.support.settings import settings_data

# --- the log_format setting and --log-format -------------------------------------------


def test_log_format_setting_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(base=settings_data()).log_format == "json"
    monkeypatch.setenv("SPOT_SSO_LOG_FORMAT", "text")
    assert load_settings(base=settings_data()).log_format == "text"
    monkeypatch.setenv("SPOT_SSO_LOG_FORMAT", "xml")
    with pytest.raises(ConfigError) as exc:
        load_settings(base=settings_data())
    assert "SPOT_SSO_LOG_FORMAT" in str(exc.value.detail)


@pytest.fixture
def config(tmp_path: Path) -> str:
    return str(write_config(tmp_path / "spot-sso.toml"))


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    """uvicorn.run and configure_logging recorded instead of run; the env put back after."""
    import uvicorn

    calls: list[tuple[str, ...]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **_: calls.append(("run", app)))
    monkeypatch.setattr(
        "service.observability.logs.configure_logging",
        lambda level, fmt, names=(): calls.append(("logging", level, fmt)),
    )
    for name in ("SPOT_SSO_CONFIG", "SPOT_SSO_LOG_FORMAT", "SPOT_SSO_DEMO_PORT"):
        monkeypatch.setenv(name, "")  # so that monkeypatch removes what the command sets
        monkeypatch.delenv(name)
    return calls


@pytest.mark.parametrize("command", ["serve", "demo"])
def test_log_format_option_reaches_the_workers(
    started: list[tuple[str, ...]], config: str, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import os

    args = [command, "--log-format", "text"] + (["--config", config] if command == "serve" else [])
    assert main(args) == 0
    assert started[0] == ("logging", "info", "text")
    assert started[1][0] == "run"
    assert os.environ["SPOT_SSO_LOG_FORMAT"] == "text"  # read again by every worker
    capsys.readouterr()


def test_without_the_option_the_setting_decides(
    started: list[tuple[str, ...]], config: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    monkeypatch.setenv("SPOT_SSO_LOG_FORMAT", "text")
    assert main(["serve", "--config", config]) == 0
    assert started[0] == ("logging", "info", "text")
    monkeypatch.delenv("SPOT_SSO_LOG_FORMAT")
    started.clear()
    assert main(["serve", "--config", config]) == 0
    assert started[0] == ("logging", "info", "json")
    assert "SPOT_SSO_LOG_FORMAT" not in os.environ


def test_a_bad_log_format_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["serve", "--log-format", "xml"])
    assert exc.value.code == 2 and "--log-format" in capsys.readouterr().err


def test_the_worker_factories_use_the_setting(monkeypatch: pytest.MonkeyPatch, config: str) -> None:
    import service.observability.logs
    import service.web.app
    from service.demo import demo_app_from_environment

    calls: list[tuple[str, str, list[str]]] = []
    monkeypatch.setattr(service.web.app, "configure_logging", lambda *a: calls.append(a))
    monkeypatch.setattr(service.observability.logs, "configure_logging", lambda *a: calls.append(a))
    monkeypatch.setenv("SPOT_SSO_CONFIG", config)
    monkeypatch.setenv("SPOT_SSO_LOG_FORMAT", "text")
    monkeypatch.setenv("SPOT_SSO_LOG_LEVEL", "warning")
    service.web.app.app_from_environment()
    monkeypatch.delenv("SPOT_SSO_CONFIG")
    demo_app_from_environment()
    demo_names = ["Authorization", "demo_session"]  # the demo host's credential names
    assert calls == [("warning", "text", []), ("warning", "text", demo_names)]
