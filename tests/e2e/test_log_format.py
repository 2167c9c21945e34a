"""A real ``spot-sso serve`` logging text lines, none holding a secret."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.support.config import write_config
from tests.support.logs import TOKEN
from tests.support.processes import start_server
from tests.support.settings import BILLING_KEY, MAIN_KEY


@pytest.fixture
def config(tmp_path: Path) -> str:
    return str(write_config(tmp_path / "spot-sso.toml"))


@pytest.mark.e2e
def test_serve_logs_text_lines_when_asked(tmp_path: Path, config: str) -> None:
    server = start_server(
        ["serve", "--config", config, "--log-format", "text"], tmp_path / "server.log"
    )
    try:
        auth = {"Authorization": f"Bearer {BILLING_KEY}"}
        response = httpx.post(
            f"{server.url}/tokens?token={TOKEN}", json={"userId": "u-1"}, headers=auth, timeout=5
        )
        assert response.status_code == 200
        token = response.json()["token"]
    finally:
        server.stop()
    logs = server.logs
    for secret in (TOKEN, token, BILLING_KEY, MAIN_KEY):
        assert secret not in logs
    assert not any(line.startswith("{") for line in logs.splitlines())
    # One line for the request: the access fields, then the token's audit fields.
    assert re.search(
        r"Z info  spot_sso\.access  POST /tokens 200  request_id=\w+ .* peer_ip=127\.0\.0\.1 "
        r"event=token_issued spot=main sub=u-1 flow=tokens client=billing ",
        logs,
    )
    assert "spot_sso.audit" not in logs
    assert re.search(r"Z info  uvicorn\.error  Application startup complete", logs)
