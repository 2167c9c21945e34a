"""``build_adapter``: the adapter the settings name, by name or by import path."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

import httpx

from service.errors import ConfigError
from service.identity.base import IdentityAdapter
from service.settings.identity import IdentityConfig

if TYPE_CHECKING:
    from service.identity.http import Caches

_REQUIRED = (
    "resolve_session",
    "fetch_user",
    "login_redirect",
    "forwarded_cookies",
    "forwarded_headers",
    "ready",
    "aclose",
)


def build_adapter(
    config: IdentityConfig,
    http: httpx.AsyncClient,
    caches: Caches | None = None,
) -> IdentityAdapter:
    """The adapter ``config`` names, ready to use; ``ConfigError`` when it cannot be built."""
    if config.adapter == "static":
        from service.identity.static import StaticAdapter

        return StaticAdapter.from_config(config.static)
    if config.adapter == "http":
        from service.identity.http import HttpAdapter

        assert config.http is not None  # IdentityConfig requires the table
        return HttpAdapter(config.http, http, caches)
    if config.adapter == "oidc":
        from service.identity.oidc import OidcAdapter

        assert config.oidc is not None  # IdentityConfig requires the table
        return OidcAdapter(config.oidc, http, caches)
    return _custom_adapter(config.adapter, config.options, http)


def _custom_adapter(path: str, options: dict[str, Any], http: httpx.AsyncClient) -> IdentityAdapter:
    module_name, _, class_name = path.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError([f"identity.adapter: cannot import {path!r} ({exc})"]) from None
    try:
        factory = getattr(cls, "from_options", None)
        adapter = factory(options, http) if factory else cls(**options)
    except Exception as exc:  # a host's own code: any failure is a configuration problem
        reason = f"{type(exc).__name__}: {exc}"
        raise ConfigError([f"identity.options: {path} refused them ({reason})"]) from None
    missing = [name for name in _REQUIRED if not callable(getattr(adapter, name, None))]
    if missing:
        raise ConfigError(
            [
                f"identity.adapter: {path} lacks {', '.join(missing)} "
                "(extend service.identity.base.AdapterBase for the optional ones)"
            ]
        )
    return adapter  # type: ignore[no-any-return]
