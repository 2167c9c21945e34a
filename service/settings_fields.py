"""Field types shared by the settings models: sections, lists from env, secret files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, SecretStr
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


def read_secret_file(path: Path) -> SecretStr:
    """The secret in ``path`` (a Docker or Kubernetes secret), trailing newline removed."""
    return SecretStr(path.read_text(encoding="utf-8").rstrip("\r\n"))


class Section(BaseModel):
    """A table of the configuration: unknown keys are refused, naming them."""

    model_config = ConfigDict(extra="forbid")
