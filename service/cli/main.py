"""The ``spot-sso`` command: serve, demo, mint, explain, verify, keygen, check-config,
openapi, migrate, members.

Exit status: 0 on success; 1 when ``verify`` finds the token invalid or expired, when
``explain`` finds the user may not enter, when ``mint`` or ``explain`` cannot get a
user (unknown, not allowed, an unusable profile, the identity source down), when the
member ledger's database fails and when ``members show`` or ``forget`` find no such
member; 2 for configuration or usage problems only (each printed on stderr, naming its
field).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from typing import Final

from service import __version__
from service.cli.admin import cmd_check_config, cmd_keygen, cmd_openapi
from service.cli.common import EXIT_CONFIG, EXIT_INVALID, err
from service.cli.members import (
    LIST_MAX,
    cmd_members_forget,
    cmd_members_list,
    cmd_members_show,
    cmd_migrate,
)
from service.cli.server import cmd_demo, cmd_serve
from service.cli.users import MEMBER_OPTIONS, cmd_explain, cmd_mint, cmd_verify
from service.errors import (
    ConfigError,
    EmailChangeRefused,
    IdentityBadResponse,
    IdentityUnavailable,
    LoginRefused,
    ProfileUnusable,
    ServiceError,
    UnknownUser,
    UserNotAllowed,
)
from service.ledger.records import LIST_LIMIT
from service.settings.model import CONFIG_ENV

# What the user or the identity source did, not the configuration: exit 1, in these words
# (a subclass before its base).
USER_FAILURES: Final[tuple[tuple[type[ServiceError], str], ...]] = (
    (UnknownUser, "no such user"),
    (UserNotAllowed, "user not allowed"),
    (LoginRefused, "user not allowed"),  # `explain --profile`: an ID token refused
    (ProfileUnusable, "unusable profile"),
    (IdentityBadResponse, "the identity source answered badly"),
    (IdentityUnavailable, "identity source unavailable"),
    (EmailChangeRefused, "email change refused"),
)
LEEWAY_MAX: Final = 366 * 86_400
SPOT_HELP: Final = "Spot alias or Spot ID (default: the only Spot configured)"
CONFIG_HELP: Final = f"TOML configuration file (default: ${CONFIG_ENV})"
MEMBERS_TEXT: Final = "The member ledger: who signed in to which Spot (list, show, forget)."
MEMBERS_SPOT_HELP: Final = "Spot alias or Spot ID (default: every Spot)"
MEMBER_ACTIONS: Final = (
    ("list", cmd_members_list, "List members, the most recent sign-ins first."),
    (
        "show",
        cmd_members_show,
        "Show all the ledger holds on a member, per Spot (exit 1 if nothing).",
    ),
    (
        "forget",
        cmd_members_forget,
        "Erase a member's records, on every Spot or one, for an erasure request (exit 1 if "
        "there is nothing to forget). A member who signs in again is recorded again.",
    ),
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        result: int = args.handler(args)
    except ConfigError as exc:
        err(str(exc.detail))
        return EXIT_CONFIG
    except ServiceError as exc:
        label = next((text for kind, text in USER_FAILURES if isinstance(exc, kind)), None)
        err(f"{label or exc.slug}: {exc.detail}{_field_lines(exc)}")
        return EXIT_CONFIG if label is None else EXIT_INVALID
    return result


def _field_lines(exc: ServiceError) -> str:
    errors = exc.errors if isinstance(exc, ProfileUnusable) else []
    return "".join(f"\n  {error.pointer}: {error.detail}" for error in errors)


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
            sub.add_argument("--config", metavar="FILE", help=CONFIG_HELP)
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
        if name == "demo":
            sub.add_argument(
                "--oidc",
                action="store_true",
                help="sign in at a demo OpenID provider (oidc-provider; needs Node.js and npm)",
            )

    mint = command("mint", cmd_mint, "Print a token for a user (from the adapter or given here).")
    _demo_flag(mint)
    mint.add_argument("--spot", help=SPOT_HELP)
    mint.add_argument("--user-id", help="look the user up through the identity adapter")
    for option in MEMBER_OPTIONS:
        mint.add_argument("--" + option.replace("_", "-"), dest=option, help=f"claim {option}")
    mint.add_argument("--ttl", type=int, help="lifetime in seconds (default: the Spot's)")

    verify = command(
        "verify",
        cmd_verify,
        "Check a token with a Spot's key and print its claims (exit 1 if invalid).",
    )
    _demo_flag(verify)
    verify.add_argument("--spot", help=SPOT_HELP)
    verify.add_argument(
        "--leeway",
        type=_bounded(0, LEEWAY_MAX),
        default=0,
        help="seconds of clock skew allowed (default: 0)",
    )
    verify.add_argument("token", help="the token, or - to read it from stdin")

    explain = command(
        "explain",
        cmd_explain,
        "Show the claims a Spot's rules give a user, and the rule behind each (exit 1 if "
        "the user may not enter).",
    )
    _demo_flag(explain)
    explain.add_argument("--spot", help=SPOT_HELP)
    who = explain.add_mutually_exclusive_group(required=True)
    who.add_argument("--user-id", help="look the user up through the identity adapter")
    who.add_argument(
        "--profile",
        metavar="FILE",
        help="a JSON UserProfile (id, email, ...); with identity.adapter = oidc, an ID "
        "token's claims (sub, email, email_verified, given_name, ...)",
    )
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
    check.add_argument(
        "--offline",
        action="store_true",
        help="do not call the identity source or Redis (no readiness checks)",
    )

    openapi = command("openapi", cmd_openapi, "Write the OpenAPI document.", config=False)
    openapi.add_argument("--output", metavar="FILE", help="write here instead of stdout")

    migrate = command(
        "migrate", cmd_migrate, "Bring the member ledger's database to the newest schema."
    )
    _demo_flag(migrate)
    _member_commands(commands.add_parser("members", help=MEMBERS_TEXT, description=MEMBERS_TEXT))
    return parser


def _member_commands(members: argparse.ArgumentParser) -> None:
    actions = members.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, handler, text in MEMBER_ACTIONS:
        sub = actions.add_parser(name, help=text, description=text)
        sub.set_defaults(handler=handler)
        sub.add_argument("--config", metavar="FILE", help=CONFIG_HELP)
        _demo_flag(sub)
        sub.add_argument("--spot", help=MEMBERS_SPOT_HELP)
        if name == "list":
            sub.add_argument("--sub", help="only this member (their sub claim)")
            sub.add_argument(
                "--email", help="only this email, in any case (the one sent or the host's)"
            )
            sub.add_argument(
                "--limit",
                type=_bounded(1, LIST_MAX),
                default=LIST_LIMIT,
                help=f"at most N members (default: {LIST_LIMIT}, at most {LIST_MAX})",
                metavar="N",
            )
        else:
            sub.add_argument("sub", metavar="SUB", help="the member's sub claim")
        sub.add_argument("--json", action="store_true", help="print JSON")


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
