"""``spot-sso serve`` and ``spot-sso demo``: uvicorn with the service's app factory."""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
from pathlib import Path
from typing import Final

from service.cli.common import NO_SPOTS, settings_of
from service.demo import (
    DEMO_API_KEY,
    DEMO_PORT_ENV,
    DEMO_SPOT_ID,
    DEMO_USERS,
    demo_base,
    demo_url,
    demo_values_in,
    oidc_provider,
)
from service.errors import ConfigError
from service.runtime.runtime import Runtime
from service.settings.model import CONFIG_ENV, Settings, env_name, load_settings

GRACEFUL_SHUTDOWN_SECONDS: Final = 10


def free_port() -> int:
    """A TCP port of 127.0.0.1 free right now (for the demo's OpenID provider)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


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
    provider = _demo_provider(args.port) if args.oidc else None
    try:
        settings = load_settings(args.config, base=demo_base(args.port))
        check_runtime(settings)
        os.environ[DEMO_PORT_ENV] = str(args.port)
        print(demo_banner(settings, provider_url=provider[0] if provider else None), flush=True)
        return run_uvicorn("service.demo:demo_app_from_environment", args, settings)
    finally:
        if provider is not None:
            oidc_provider.stop(provider[1])


def _demo_provider(port: int) -> tuple[str, subprocess.Popen[bytes]]:
    """The demo OpenID provider, started, and the demo's settings pointed at it (through
    the environment, which uvicorn's workers read again)."""
    try:
        oidc_provider.prepare()
        provider_port = free_port()
        process = oidc_provider.start(
            provider_port,
            f"{demo_url(port)}/oidc/callback",
            oidc_provider.accounts_of(DEMO_USERS),
        )
    except (oidc_provider.ProviderUnavailable, OSError, subprocess.SubprocessError) as exc:
        raise ConfigError([f"--oidc: {exc}"]) from None
    issuer = f"http://127.0.0.1:{provider_port}"
    os.environ.update(oidc_provider.environment(issuer))
    return issuer, process


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


def demo_banner(settings: Settings, provider_url: str | None = None) -> str:
    base = settings.public_url
    users = ", ".join(user["id"] for user in DEMO_USERS)
    body = '{"userId": "u-ada"}'
    if provider_url is not None:  # an OpenID provider looks nobody up by ID: a whole user
        users += f"\n  Provider    {provider_url}   sign in with a demo user's id, any password"
        body = (
            '{"user": {"sub": "u-ada", "firstName": "Ada", "lastName": "Lovelace", '
            '"email": "ada@example.com"}}'
        )
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
      -d '{body}'
"""
