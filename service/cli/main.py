"""The ``spot-sso`` command: serve, demo, mint, verify, keygen, check-config, openapi.

Exit status: 0 on success, 1 when ``verify`` finds the token invalid or expired, 2 for
configuration or usage problems (each printed on stderr, naming its field).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from service import __version__
from service.contract.claims import WIRE_NAMES, Member
from service.contract.membership import settle
from service.contract.signing import InvalidToken
from service.demo import (
    DEMO_API_KEY,
    DEMO_BASE,
    DEMO_PORT_ENV,
    DEMO_SPOT_ID,
    DEMO_USERS,
    demo_base,
    demo_values_in,
)
from service.errors import ConfigError, ServiceError, field_errors
from service.identity.base import UserProfile
from service.runtime.clients import key_digest, new_api_key
from service.runtime.runtime import Runtime
from service.settings.model import CONFIG_ENV, Settings, describe, env_name, load_settings

T = TypeVar("T")

EXIT_INVALID = 1
EXIT_CONFIG = 2
STDIN = "-"
GRACEFUL_SHUTDOWN_SECONDS = 10
NO_SPOTS = (
    "spots: no Spot is configured; add a [spots.<alias>] table (or SPOT_SSO_SPOTS__<ALIAS>__ID)"
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        result: int = args.handler(args)
    except ConfigError as exc:
        _err(str(exc.detail))
        return EXIT_CONFIG
    except ServiceError as exc:
        _err(f"{exc.slug}: {exc.detail}")
        return EXIT_CONFIG
    return result


def _err(message: str) -> None:
    print(f"spot-sso: {message}", file=sys.stderr)


def _settings(args: argparse.Namespace) -> Settings:
    base = DEMO_BASE if getattr(args, "demo", False) else None
    return load_settings(args.config, base=base)


def _check_runtime(settings: Settings) -> None:
    """Build the runtime once (adapter, users file...) so problems show before serving."""
    asyncio.run(Runtime(settings).aclose())


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    demo = demo_values_in(settings)
    if demo:
        raise ConfigError([*demo, "the demo's public keys are refused outside `spot-sso demo`"])
    if not settings.spots:
        raise ConfigError([NO_SPOTS])
    _check_runtime(settings)
    return _run_uvicorn("service.web.app:app_from_environment", args, settings)


def cmd_demo(args: argparse.Namespace) -> int:
    settings = load_settings(args.config, base=demo_base(args.port))
    _check_runtime(settings)
    os.environ[DEMO_PORT_ENV] = str(args.port)
    print(_demo_banner(settings), flush=True)
    return _run_uvicorn("service.demo:demo_app_from_environment", args, settings)


def _run_uvicorn(factory: str, args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from service.observability.logs import configure_logging

    if args.config:
        os.environ[CONFIG_ENV] = str(Path(args.config).resolve())
    if args.log_format:  # the workers read their settings again, from the environment
        os.environ[env_name("log_format")] = args.log_format
    configure_logging(
        settings.log_level, args.log_format or settings.log_format, settings.credential_names()
    )
    uvicorn.run(
        factory,
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_config=None,
        access_log=False,
        server_header=False,
        # spot-sso reads X-Forwarded-For itself, from `trusted_proxies` only, and keeps both
        # the proxy (peer) and the client address; uvicorn must not rewrite the peer first.
        proxy_headers=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    return 0


def _demo_banner(settings: Settings) -> str:
    base = settings.public_url
    users = ", ".join(user["id"] for user in DEMO_USERS)
    return f"""
  spot-sso demo  (DEMO-ONLY keys: public, refused by `spot-sso serve`)

  Open        {base}/demo/spot/   the mock Spot: click "Log in with SSO"
  Host        {base}/demo/host/   the demo host platform (its login page)
  Service     {base}   (API docs: {base}/docs)
  Spot        demo  (Spot ID {DEMO_SPOT_ID})
  API key     {DEMO_API_KEY}
  Demo users  {users}

  Try it:
    curl -s -X POST {base}/tokens \\
      -H 'Authorization: Bearer {DEMO_API_KEY}' \\
      -H 'Content-Type: application/json' \\
      -d '{{"userId": "u-ada"}}'
"""


def _with_runtime(settings: Settings, work: Callable[[Runtime], Awaitable[T]]) -> T:
    """``work`` done with a Runtime that lives and is closed in one event loop: its
    connections to the host belong to the loop that opened them."""

    async def main() -> T:
        runtime = Runtime(settings)
        try:
            return await work(runtime)
        finally:
            await runtime.aclose()

    return asyncio.run(main())


def cmd_mint(args: argparse.Namespace) -> int:
    settings = _settings(args)
    member = _member_from_args(args, settings)

    async def mint(runtime: Runtime) -> str:
        alias, spot = runtime.spot(args.spot)
        profile = await _fetch_profile(runtime, args.user_id) if member is None else None
        settled, made = settle(profile, member, spot, alias)
        return runtime.issue(alias, settled, flow="cli", made=made, ttl_seconds=args.ttl).token

    print(_with_runtime(settings, mint))
    return 0


async def _fetch_profile(runtime: Runtime, user_id: str) -> UserProfile:
    profile = await runtime.adapter.fetch_user(user_id)
    if profile is None:
        raise ConfigError([f"--user-id: the identity source knows no user {user_id!r}"])
    return profile


_MEMBER_OPTIONS = (
    "sub",
    "first_name",
    "last_name",
    "email",
    "title",
    "avatar_url",
    "lang",
    "timezone",
)


def _member_from_args(args: argparse.Namespace, settings: Settings) -> Member | None:
    given = {name: getattr(args, name) for name in _MEMBER_OPTIONS if getattr(args, name)}
    if args.user_id and given:
        raise ConfigError(["give either --user-id or the user's claims (--sub, --email...)"])
    if args.user_id:
        return None
    try:
        return Member(**given)
    except ValidationError as exc:
        problems = [f"{_option(e.pointer)}: {e.detail}" for e in field_errors(exc.errors())]
        raise ConfigError(
            ["give --user-id, or --sub, --first-name, --last-name and --email", *problems]
        ) from None


def _option(pointer: str) -> str:
    """The mint option for an error's pointer, whether it names the claim or the field."""
    name = pointer.strip("/")
    python_name = next((n for n, wire in WIRE_NAMES.items() if wire == name), name)
    return "--" + python_name.replace("_", "-")


def cmd_explain(args: argparse.Namespace) -> int:
    from service.runtime.explain import as_text, explain

    settings = _settings(args)

    async def report_for(runtime: Runtime) -> dict[str, Any]:
        alias, _ = runtime.spot(args.spot)
        if args.profile:
            profile = _profile_file(Path(args.profile))
        else:
            profile = await _fetch_profile(runtime, args.user_id)
        return explain(runtime, alias, profile)

    report = _with_runtime(settings, report_for)
    print(json.dumps(report, indent=2, ensure_ascii=False) if args.json else as_text(report))
    return 0 if report["allowed"] else EXIT_INVALID


def _profile_file(path: Path) -> UserProfile:
    try:
        return UserProfile.model_validate_json(path.read_bytes())
    except OSError as exc:
        raise ConfigError([f"--profile {path}: cannot read it ({exc.strerror})"]) from None
    except ValidationError as exc:
        raise ConfigError(describe(exc, prefix=f"--profile {path}: ", env=False)) from None


def cmd_verify(args: argparse.Namespace) -> int:
    settings = _settings(args)
    token = (sys.stdin.read() if args.token == STDIN else args.token).strip()
    runtime = Runtime(settings)
    try:
        alias, _ = runtime.spot(args.spot)
        claims = runtime.issuers[alias].verify(token, leeway=args.leeway)
    except InvalidToken as exc:
        _err(f"invalid token for Spot {args.spot!r}: {exc}")
        return EXIT_INVALID
    finally:
        asyncio.run(runtime.aclose())
    print(json.dumps(claims, indent=2, ensure_ascii=False))
    return 0


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
    settings = _settings(args)
    problems = _with_runtime(settings, lambda runtime: runtime.readiness(log_changes=False))
    print(json.dumps(settings.redacted(), indent=2))
    for check, problem in problems.items():
        _err(f"readiness: {check}: " + ("ok" if problem is None else f"not ok ({problem})"))
    for warning in settings.warnings():
        _err(f"warning: {warning}")
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spot-sso", description="Single sign-on tokens for MeltingSpot communities."
    )
    parser.add_argument("--version", action="version", version=f"spot-sso {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        name: str, handler: Callable[[argparse.Namespace], int], text: str, config: bool = True
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=text, description=text)
        sub.set_defaults(handler=handler)
        if config:
            sub.add_argument(
                "--config", metavar="FILE", help=f"TOML configuration file (default: ${CONFIG_ENV})"
            )
        return sub

    for name, handler, text, host in (
        ("serve", cmd_serve, "Run the service.", os.environ.get("SPOT_SSO_HOST", "127.0.0.1")),
        ("demo", cmd_demo, "Run the service with the built-in demo.", "127.0.0.1"),
    ):
        sub = command(name, handler, text)
        sub.add_argument("--host", default=host, help=f"address to bind (default: {host})")
        # String defaults go through `type` too, so a bad $SPOT_SSO_PORT is a usage error.
        sub.add_argument(
            "--port",
            type=_bounded(1, 65535),
            default=os.environ.get("SPOT_SSO_PORT", "8000"),
            help="port (default: 8000, or $SPOT_SSO_PORT)",
        )
        sub.add_argument(
            "--workers",
            type=_bounded(1, 64),
            default=os.environ.get("SPOT_SSO_WORKERS", "1"),
            help="worker processes (default: 1, or $SPOT_SSO_WORKERS)",
        )
        sub.add_argument(
            "--log-format",
            choices=("json", "text"),
            help="JSON lines, or text for humans (default: json, or $SPOT_SSO_LOG_FORMAT)",
        )

    mint = command("mint", cmd_mint, "Print a token for a user (from the adapter or given here).")
    _demo_flag(mint)
    mint.add_argument("--spot", required=True, help="Spot alias or Spot ID")
    mint.add_argument("--user-id", help="look the user up through the identity adapter")
    for option in _MEMBER_OPTIONS:
        mint.add_argument("--" + option.replace("_", "-"), dest=option, help=f"claim {option}")
    mint.add_argument("--ttl", type=int, help="lifetime in seconds (default: the Spot's)")

    verify = command(
        "verify",
        cmd_verify,
        "Check a token with a Spot's key and print its claims (exit 1 if invalid).",
    )
    _demo_flag(verify)
    verify.add_argument("--spot", required=True, help="Spot alias or Spot ID")
    verify.add_argument("--leeway", type=int, default=0, help="seconds of clock skew allowed")
    verify.add_argument("token", help="the token, or - to read it from stdin")

    explain = command(
        "explain",
        cmd_explain,
        "Show the claims a Spot's rules give a user, and the rule behind each (exit 1 if "
        "the user may not enter).",
    )
    _demo_flag(explain)
    explain.add_argument("--spot", required=True, help="Spot alias or Spot ID")
    who = explain.add_mutually_exclusive_group(required=True)
    who.add_argument("--user-id", help="look the user up through the identity adapter")
    who.add_argument("--profile", metavar="FILE", help="a JSON UserProfile (id, email, ...)")
    explain.add_argument("--json", action="store_true", help="print JSON")

    keygen = command(
        "keygen", cmd_keygen, "Print a new random API key and its digest.", config=False
    )
    keygen.add_argument("--json", action="store_true", help="print JSON")

    check = command(
        "check-config",
        cmd_check_config,
        "Print the effective configuration, secrets redacted; exit 2 on problems.",
    )
    _demo_flag(check)

    openapi = command("openapi", cmd_openapi, "Write the OpenAPI document.", config=False)
    openapi.add_argument("--output", metavar="FILE", help="write here instead of stdout")
    return parser


def _bounded(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not between {low} and {high}")
        return value

    return parse


def _demo_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--demo", action="store_true", help="start from the built-in demo configuration"
    )
