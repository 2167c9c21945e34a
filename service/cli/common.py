"""What every ``spot-sso`` command shares: exit statuses, messages, settings, a runtime."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

from service.demo import DEMO_BASE
from service.errors import ConfigError
from service.runtime.runtime import Runtime
from service.settings.model import Settings, load_settings

T = TypeVar("T")

EXIT_INVALID: Final = 1
EXIT_CONFIG: Final = 2
NO_SPOTS: Final = (
    "spots: no Spot is configured; add a [spots.<alias>] table (or SPOT_SSO_SPOTS__<ALIAS>__ID)"
)


def err(message: str) -> None:
    """``message`` on stderr, as ``spot-sso: message``."""
    print(f"spot-sso: {message}", file=sys.stderr)


def settings_of(args: argparse.Namespace) -> Settings:
    """The settings a command runs with: ``--config`` (or ``$SPOT_SSO_CONFIG``) and the
    environment, on top of the demo's with ``--demo``."""
    base = DEMO_BASE if getattr(args, "demo", False) else None
    return load_settings(args.config, base=base)


def spot_ref(settings: Settings, ref: str | None) -> str:
    """The Spot ``--spot`` names (an alias or a Spot ID), or the only Spot configured."""
    if ref is not None:
        return ref
    aliases = sorted(settings.spots)
    if not aliases:
        raise ConfigError([NO_SPOTS])
    if len(aliases) > 1:
        raise ConfigError(
            [f"--spot: {len(aliases)} Spots are configured; name one: {', '.join(aliases)}"]
        )
    return aliases[0]


def with_runtime(
    settings: Settings, work: Callable[[Runtime], Awaitable[T]], *, start: bool = True
) -> T:
    """``work`` done with a Runtime that lives and is closed in one event loop: its
    connections to the host belong to the loop that opened them. ``start``: the ledger
    made ready first (its migrations), as for a command that issues tokens."""

    async def main() -> T:
        runtime = Runtime(settings)
        try:
            if start:
                await runtime.start(maintain=False)
            return await work(runtime)
        finally:
            await runtime.aclose()

    return asyncio.run(main())
