"""``spot-sso serve`` and ``spot-sso demo``: uvicorn with the service's app factory."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from service.cli.common import NO_SPOTS, settings_of
from service.demo import (
    DEFAULT_PORT,
    DEMO_API_KEY,
    DEMO_HOST_API_TOKEN,
    DEMO_PORT_ENV,
    DEMO_USERS,
    demo_base,
    demo_url,
    demo_values_in,
    oidc_provider,
)
from service.demo.host import MOUNT_PATH as DEMO_HOST_PATH
from service.demo.host import host_identity_config
from service.errors import ConfigError
from service.identity.static import StaticAdapter
from service.runtime.runtime import Runtime
from service.settings.model import CONFIG_ENV, Settings, env_name, load_settings

GRACEFUL_SHUTDOWN_SECONDS: Final = 10
BANNER_USERS: Final = 10  # listed by ID; the rest are counted


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
        provider_url = provider[0] if provider else None
        print(demo_banner(settings, args.port, provider_url=provider_url), flush=True)
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
    # POST /tokens by userId: the OpenID provider looks nobody up, the demo host's API does.
    host = host_identity_config(demo_url(port), DEMO_HOST_API_TOKEN)
    lookup = {name: host[name] for name in ("user_url", "token", "fields")}
    os.environ.update(oidc_provider.environment(issuer, lookup))
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


def demo_banner(
    settings: Settings, port: int = DEFAULT_PORT, provider_url: str | None = None
) -> str:
    """What ``spot-sso demo`` prints at start-up: where to go, and who can sign in."""
    base = settings.public_url
    ids, source = demo_users(settings, port, provider_url)
    users = _users_line(ids, source)
    body = json.dumps({"userId": ids[0] if ids else "<user id>"})
    if provider_url is not None:  # users by ID: the demo host's API ([identity.oidc.lookup])
        users += f"\n  Provider    {provider_url}   sign in with a demo user's id, any password"
    return f"""
  spot-sso demo  (DEMO-ONLY keys: public, refused by `spot-sso serve`)

  Open        {base}/demo/spot/   the mock Spot: click "Log in with SSO"
  Host        {base}/demo/host/   the demo host platform (its login page)
  Embed       {base}/demo/host/community   a host page embedding the Spot's widget
  Service     {base}   (API docs: {base}/docs)
  Spot        demo  (Spot ID {settings.spots["demo"].id})
  API key     {DEMO_API_KEY}
  {users}

  Try it:
    curl -s -X POST {base}/tokens \\
      -H 'Authorization: Bearer {DEMO_API_KEY}' \\
      -H 'Content-Type: application/json' \\
      -d '{body}'
"""


def demo_users(
    settings: Settings, port: int, provider_url: str | None = None
) -> tuple[list[str] | None, str]:
    """The IDs of the users the demo runs with, and where they come from: the demo host's
    (or the demo OpenID provider's) users, the static adapter's, or no IDs but the source
    when it cannot be listed (a host platform elsewhere, an OpenID provider, a class)."""
    identity = settings.identity
    if provider_url is not None or _on_demo_host(settings, port):
        return [user["id"] for user in DEMO_USERS], "demo"
    if identity.adapter == "static":
        users = StaticAdapter.from_config(identity.static).users
        return [user.id for user in users], "identity.static"
    if identity.adapter == "http" and identity.http is not None:
        url = identity.http.user_url or identity.http.session_url or ""
        return None, f"the host platform's, at {_origin(url)} (identity.http)"
    if identity.adapter == "oidc" and identity.oidc is not None:
        return None, f"the OpenID provider's, at {identity.oidc.issuer} (identity.oidc)"
    return None, f"those of {identity.adapter} (identity.adapter)"


def _users_line(ids: list[str] | None, source: str) -> str:
    if ids is None:
        return f"Users       {source}"
    if not ids:
        return f"Users       none: {source} lists no users"
    shown = ", ".join(ids[:BANNER_USERS])
    shown += f" and {len(ids) - BANNER_USERS} more" if len(ids) > BANNER_USERS else ""
    return f"Demo users  {shown}" if source == "demo" else f"Users       {shown}  ({source})"


def _on_demo_host(settings: Settings, port: int) -> bool:
    """Whether the HTTP adapter looks users up on the demo host this process serves."""
    http = settings.identity.http
    if settings.identity.adapter != "http" or http is None:
        return False
    url = http.user_url or http.session_url or ""
    hosts = (demo_url(port), settings.public_url)
    return any(url.startswith(f"{host.rstrip('/')}{DEMO_HOST_PATH}/") for host in hosts)


def _origin(url: str) -> str:
    """The scheme, host and port of ``url``, without any credentials in it."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
