"""``spot-sso keygen``, ``check-config`` and ``openapi``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from service.cli.common import NO_SPOTS, err, settings_of, with_runtime
from service.demo import DEMO_BASE, demo_values_in
from service.errors import ConfigError
from service.runtime.clients import key_digest, new_api_key
from service.settings.model import Settings


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
    problems: dict[str, str | None] = {}
    if not args.offline:  # the identity source (an OpenID provider's discovery) and Redis
        problems = with_runtime(settings, lambda runtime: runtime.readiness(log_changes=False))
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
