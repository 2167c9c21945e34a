"""Field types shared by the settings models: sections, lists from env, secret files."""

from __future__ import annotations

import ipaddress
import json
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, SecretStr
from pydantic_settings import NoDecode


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


StrList = Annotated[list[str], NoDecode, BeforeValidator(_string_list)]


def _networks(values: list[str]) -> list[str]:
    try:
        return [str(ipaddress.ip_network(value, strict=False)) for value in values]
    except ValueError as exc:
        raise ValueError(f"must be IP networks like 10.0.0.0/8: {exc}") from None


NetworkList = Annotated[StrList, AfterValidator(_networks)]
"""IP networks (``10.0.0.0/8``, ``::1``), from a list or comma-separated text."""


_PLACEHOLDER = re.compile(
    r"^(?:<.*>|\$\{.*\}|\{\{.*\}\}|x+|\*+|\.+|-+|0+|(?:todo|fixme)\b.*|"
    r".*(?:change[-_ ]?me|replace[-_ ]?(?:me|with)|placeholder|your[-_ ]?(?:private[-_ ]?)?key|"
    r"insert[-_ ]?key|secret[-_ ]?here|paste[-_ ]).*|secret|password|key|private[-_ ]?key)$",
    re.IGNORECASE,
)


def is_placeholder(secret: str) -> bool:
    """True for values such as ``changeme`` or ``<your-key>`` left from a template."""
    return bool(_PLACEHOLDER.match(secret.strip()))


def read_secret_file(path: Path) -> SecretStr:
    """The secret in ``path`` (a Docker or Kubernetes secret), trailing newline removed."""
    return SecretStr(path.read_text(encoding="utf-8").rstrip("\r\n"))


class Section(BaseModel):
    """A table of the configuration: unknown keys are refused, naming them."""

    model_config = ConfigDict(extra="forbid")
