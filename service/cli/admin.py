"""``spot-sso keygen``, ``check-config`` and ``openapi``."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from service.cli.common import NO_SPOTS, err, settings_of, with_runtime
from service.cli.server import check_runtime
from service.demo import DEMO_BASE, demo_values_in
from service.errors import ConfigError
from service.observability.logs import configure_logging
from service.runtime.clients import key_digest, new_api_key
from service.runtime.runtime import Runtime
from service.settings.model import Settings

SERVICE_LOGGER: Final = "spot_sso"  # the parent of the service's own loggers


def cmd_keygen(args: argparse.Namespace) -> int:
    api_key = new_api_key()
    digest = key_digest(api_key)
    if args.json:
        print(json.dumps({"apiKey": api_key, "keySha256": digest}))
    else:
        print(f"api_key    = {api_key}")
        print(f"key_sha256 = {digest}")
        print(
            "# Give api_key to the client (as a secret); put key_sha256 in [clients.<name>].",
            file=sys.stderr,
        )
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    # stdout is the configuration; a log record is a formatted line on stderr, never bare.
    configure_logging("warning", settings.log_format, settings.credential_names())
    problems: dict[str, str | None] = {}
    if args.offline:  # what serve builds before it listens (the adapter, the users file)
        check_runtime(settings)
    else:  # and the calls: the identity source, Redis, the ledger's database
        problems = with_runtime(settings, _readiness, start=False)  # checks, changes nothing
    print(json.dumps(settings.redacted(), indent=2))
    if args.offline:
        err("readiness: not checked (--offline)")
    for check, problem in problems.items():
        err(f"readiness: {check}: " + ("ok" if problem is None else f"not ok ({problem})"))
    for warning in settings.warnings():
        err(f"warning: {warning}")
    demo = [] if args.demo else demo_values_in(settings)
    if demo:
        raise ConfigError([*demo, "`spot-sso serve` refuses the demo's public keys"])
    if not settings.spots:
        raise ConfigError([NO_SPOTS])
    return 0


async def _readiness(runtime: Runtime) -> dict[str, str | None]:
    """Each readiness check's problem. The service's own warnings meanwhile ("redis
    unavailable") say what check-config prints as readiness lines: not twice."""
    with _held_back(SERVICE_LOGGER, logging.ERROR):
        return await runtime.readiness(log_changes=False)


@contextmanager
def _held_back(name: str, level: int) -> Iterator[None]:
    """The records of logger ``name`` and its children below ``level`` dropped, a while."""
    logger = logging.getLogger(name)
    before = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(before)


def cmd_openapi(args: argparse.Namespace) -> int:
    text = openapi_text()
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def openapi_text() -> str:
    """The OpenAPI document as committed in ``openapi/openapi.json``."""
    from service.web.app import create_app

    document = create_app(Settings.model_validate(DEMO_BASE)).openapi()
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
