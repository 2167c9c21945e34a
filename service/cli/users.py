"""``spot-sso mint``, ``explain`` and ``verify``: tokens and claims from the command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any, Final

from pydantic import ValidationError

from service.cli.common import EXIT_INVALID, err, settings_of, spot_ref, with_runtime
from service.contract.claims import WIRE_NAMES, Member
from service.contract.membership import settle
from service.contract.profile import UserProfile
from service.contract.signing import InvalidToken
from service.errors import ConfigError, UnknownUser, field_errors
from service.observability.logs import configure_logging
from service.runtime.runtime import Runtime
from service.settings.model import Settings, describe

STDIN: Final = "-"


def cmd_mint(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    member = _member_from_args(args, settings)
    # The token goes to stdout; its audit line (flow "cli") and any warning to stderr.
    configure_logging(settings.log_level, settings.log_format, settings.credential_names())

    async def mint(runtime: Runtime) -> str:
        alias, spot = runtime.spot(spot_ref(settings, args.spot))
        profile = await fetch_profile(runtime, args.user_id) if member is None else None
        settled, made = settle(profile, member, spot, alias)
        issued = await runtime.issue(alias, settled, flow="cli", made=made, ttl_seconds=args.ttl)
        return issued.token

    print(with_runtime(settings, mint))
    return 0


async def fetch_profile(runtime: Runtime, user_id: str) -> UserProfile:
    profile = await runtime.adapter.fetch_user(user_id)
    if profile is None:
        raise UnknownUser(f"the identity source knows no user {user_id!r}")
    return profile


MEMBER_OPTIONS = (
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
    given = {name: getattr(args, name) for name in MEMBER_OPTIONS if getattr(args, name)}
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

    settings = settings_of(args)

    async def report_for(runtime: Runtime) -> dict[str, Any]:
        alias, _ = runtime.spot(spot_ref(settings, args.spot))
        if args.profile and runtime.oidc is not None:  # an ID token's claims, saved as JSON
            profile = runtime.oidc.profile(_json_file(Path(args.profile)))
        elif args.profile:
            profile = _profile_file(Path(args.profile))
        else:
            profile = await fetch_profile(runtime, args.user_id)
        known = await runtime.known_member(alias, profile.id)
        return explain(runtime, alias, profile, known)

    report = with_runtime(settings, report_for)
    print(json.dumps(report, indent=2, ensure_ascii=False) if args.json else as_text(report))
    return 0 if report["allowed"] else EXIT_INVALID


def _json_file(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_bytes())
    except OSError as exc:
        raise ConfigError([f"--profile {path}: cannot read it ({exc.strerror})"]) from None
    except ValueError as exc:
        raise ConfigError([f"--profile {path}: not JSON ({exc})"]) from None
    if not isinstance(data, dict):
        raise ConfigError([f"--profile {path}: not a JSON object of claims"])
    return data


def _profile_file(path: Path) -> UserProfile:
    try:
        return UserProfile.model_validate_json(path.read_bytes())
    except OSError as exc:
        raise ConfigError([f"--profile {path}: cannot read it ({exc.strerror})"]) from None
    except ValidationError as exc:
        raise ConfigError(describe(exc, prefix=f"--profile {path}: ", env=False)) from None


def cmd_verify(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    token = (sys.stdin.read() if args.token == STDIN else args.token).strip()
    runtime = Runtime(settings)
    try:
        alias, _ = runtime.spot(spot_ref(settings, args.spot))
        claims = runtime.issuers[alias].verify(token, leeway=args.leeway)
    except InvalidToken as exc:
        err(f"invalid token for Spot {args.spot or alias!r}: {exc}")
        return EXIT_INVALID
    finally:
        asyncio.run(runtime.aclose())
    print(json.dumps(claims, indent=2, ensure_ascii=False))
    return 0
