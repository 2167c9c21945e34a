"""The spot-sso TOML configuration the tests write: one Spot, one API client, one user.

``write_config(path, **changes)`` writes it to ``path``; each change is merged in table
by table, and ``None`` takes out what it names (``clients=None``: no client at all). A
module's own variant is a layer of changes: ``write_config(path, LAYER, **changes)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.fixtures import write_toml
from service.runtime.clients import key_digest
from tests.support.settings import BILLING_KEY, LEDGER_OFF, MAIN_ID, MAIN_KEY

ADA = {"id": "u-1", "email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace"}


def config_data(*layers: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """The configuration as data: the Spot ``main``, the client ``billing``, Ada; then
    each of ``layers``, then ``changes``, merged in."""
    data: dict[str, Any] = {
        "spots": {"main": {"id": MAIN_ID, "private_key": MAIN_KEY}},
        "clients": {"billing": {"key_sha256": key_digest(BILLING_KEY), "spots": ["main"]}},
        "identity": {"static": {"users": [ADA]}},
        "ledger": LEDGER_OFF,
    }
    for layer in (*layers, changes):
        data = _merged(data, layer)
    return data


def write_config(path: Path, *layers: dict[str, Any], **changes: Any) -> Path:
    """The configuration, with ``layers`` and ``changes``, as a TOML file at ``path``."""
    write_toml(config_data(*layers, **changes), path)
    return path


def _merged(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for name, value in changes.items():
        if value is None:
            merged.pop(name, None)
        elif isinstance(value, dict) and isinstance(merged.get(name), dict):
            merged[name] = _merged(merged[name], value)
        else:
            merged[name] = value
    return merged


def write_users(path: Path, *users: dict[str, Any]) -> Path:
    """A users file of the static adapter (``users_file``): Ada unless ``users`` are given."""
    write_toml({"users": list(users or [ADA])}, path)
    return path
