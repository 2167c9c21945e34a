"""``spot-sso serve`` and ``spot-sso demo``: uvicorn with the service's app factory."""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path
from typing import Final

from service.cli.common import NO_SPOTS, settings_of
from service.demo import (
    DEMO_API_KEY,
    DEMO_PORT_ENV,
    DEMO_SPOT_ID,
    DEMO_USERS,
    demo_base,
    demo_values_in,
)
from service.errors import ConfigError
from service.runtime.runtime import Runtime
from service.settings.model import CONFIG_ENV, Settings, env_name, load_settings

GRACEFUL_SHUTDOWN_SECONDS: Final = 10


def check_runtime(settings: Settings) -> None:
    """Build the runtime once (adapter, users file...) so problems show before serving."""
    asyncio.run(Runtime(settings).aclose())


def cmd_serve(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    demo = demo_values_in(settings)
    if demo:
        raise ConfigError([*demo, "the demo's public keys are refused outside `spot-sso demo`"])
    if not settings.spots:
        raise ConfigError([NO_SPOTS])
    check_runtime(settings)
    return run_uvicorn("service.web.app:app_from_environment", args, settings)


def cmd_demo(args: argparse.Namespace) -> int:
    settings = load_settings(args.config, base=demo_base(args.port))
    check_runtime(settings)
    os.environ[DEMO_PORT_ENV] = str(args.port)
    print(demo_banner(settings), flush=True)
    return run_uvicorn("service.demo:demo_app_from_environment", args, settings)


def run_uvicorn(factory: str, args: argparse.Namespace, settings: Settings) -> int:
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


def demo_banner(settings: Settings) -> str:
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
