"""Field types shared by the settings models: sections, lists from env, secret files."""

from __future__ import annotations

import ipaddress
import json
import re
from pathlib import Path
from typing import Annotated, Any, Final

from pydantic import BaseModel, BeforeValidator, ConfigDict, SecretStr
from pydantic_settings import NoDecode

from service.networks import Network, parse_networks
from service.secrets import read_secret_file


def _string_list(value: Any) -> Any:
    """Lists may come from the environment as JSON or as comma-separated text."""
    if not isinstance(value, str):
        return value
    if value.lstrip().startswith("["):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not a JSON list ({exc.msg})") from None
    return [item.strip() for item in value.split(",") if item.strip()]


# token (RFC 9110 5.6.2): what a cookie or header name is made of.
TOKEN: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")

StrList = Annotated[list[str], NoDecode, BeforeValidator(_string_list)]


def _networks(values: list[str]) -> list[Network]:
    try:
        return parse_networks(values)
    except ValueError as exc:
        raise ValueError(f"must be IP networks like 10.0.0.0/8: {exc}") from None


NetworkList = Annotated[
    list[ipaddress.IPv4Network | ipaddress.IPv6Network],
    NoDecode,
    BeforeValidator(lambda value: _networks(_string_list(value))),
]
"""IP networks (``10.0.0.0/8``, ``::1``), from a list or comma-separated text."""


def secret_from_file(path: Path, field: str) -> SecretStr:
    """The secret in the file ``field`` names; a ``ValueError`` naming both if unreadable."""
    try:
        return read_secret_file(path)
    except OSError as exc:
        raise ValueError(f"{field}: cannot read {path} ({exc.strerror})") from None


class Section(BaseModel):
    """A table of the configuration: unknown keys are refused, naming them."""

    model_config = ConfigDict(extra="forbid")
