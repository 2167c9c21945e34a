"""Settings: one object, built once at start-up and passed down.

Sources, later wins: field defaults < a base (the demo's) < TOML file (``--config`` or
``SPOT_SSO_CONFIG``) < environment ``SPOT_SSO_*`` (nested with ``__``) < secret files
(``*_file`` fields). Every problem is reported at once, each naming its field and the
environment variable that sets it.
"""

from __future__ import annotations

import logging
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from service.errors import ConfigError
from service.secrets import is_placeholder, mask_secret_names, mask_urls
from service.settings.fields import NetworkList, secret_from_file
from service.settings.identity import IdentityConfig
from service.settings.ledger import LEDGER_FILE, LedgerConfig
from service.settings.names import closest, names_at
from service.settings.spots import (
    MIN_KEY_BYTES,
    MISSING_KEY,
    PLACEHOLDER_KEY,
    ClientConfig,
    LimitsConfig,
    SpotConfig,
)

ENV_PREFIX: Final = "SPOT_SSO_"
CONFIG_ENV: Final = "SPOT_SSO_CONFIG"

log = logging.getLogger(__name__)

_ALIAS = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class Settings(BaseSettings):
    """The whole configuration of one spot-sso process."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        case_sensitive=False,
        validate_default=True,
    )

    public_url: str = Field(
        default="http://127.0.0.1:8000", description="This service's external base URL."
    )
    log_level: str = "info"
    log_format: Literal["json", "text"] = "json"
    spots: dict[str, SpotConfig] = Field(default_factory=dict)
    clients: dict[str, ClientConfig] = Field(default_factory=dict)
    identity: IdentityConfig = Field(default_factory=IdentityConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    redis_url: SecretStr | None = Field(
        default=None, description="redis://host:6379/0: rate limits and cache shared by replicas."
    )
    redis_url_file: Path | None = None
    data_dir: Path = Field(
        default=Path("data"),
        description="Where the ledger's SQLite file lives (relative to the working folder).",
    )
    database_url: SecretStr | None = Field(
        default=None,
        description="postgresql://user@host/db for the ledger (several replicas); "
        "default: SQLite in data_dir.",
    )
    database_url_file: Path | None = None
    ledger: LedgerConfig = Field(default_factory=LedgerConfig)
    trusted_proxies: NetworkList = Field(
        default_factory=list,
        description="Networks of the proxies whose X-Forwarded-For is believed.",
    )
    max_body_bytes: int = Field(default=65_536, ge=1024, le=1_048_576)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # init values are the file (and base) layers; the environment overrides them.
        return (env_settings, init_settings)

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        if not re.fullmatch(r"https?://[^/?#\s@\\]+(/[^?#\s\\]*)?", value):
            raise ValueError("must be an absolute http(s) URL without query or fragment")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _redis_url_from_file(self) -> Settings:
        if self.redis_url_file is not None:
            self.redis_url = secret_from_file(self.redis_url_file, "redis_url_file")
        if self.redis_url is not None and not re.match(
            r"(rediss?|unix)://", self.redis_url.get_secret_value()
        ):
            raise ValueError(
                f"redis_url ({env_name('redis_url')}): must start with redis://, rediss:// "
                "or unix://"
            )
        return self

    @model_validator(mode="after")
    def _database_url_from_file(self) -> Settings:
        if self.database_url_file is not None:
            self.database_url = secret_from_file(self.database_url_file, "database_url_file")
        if self.database_url is not None and not re.match(
            r"(sqlite|postgres|postgresql)(\+\w+)?://", self.database_url.get_secret_value()
        ):
            raise ValueError(
                f"database_url ({env_name('database_url')}): must start with postgresql:// "
                "or sqlite:///"
            )
        return self

    def ledger_url(self) -> str | None:
        """The ledger's database: ``database_url``, or a SQLite file in ``data_dir``;
        None when the ledger is off."""
        if not self.ledger.enabled:
            return None
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{(self.data_dir / LEDGER_FILE).resolve()}"

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        if value.lower() not in ("critical", "error", "warning", "info", "debug"):
            raise ValueError("must be one of critical, error, warning, info, debug")
        return value.lower()

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        problems = [*_spot_problems(self.spots), *_client_problems(self)]
        if not self.ledger.enabled:
            problems += [
                f"spots.{alias}.email_change ({env_name('spots', alias, 'email_change')}): "
                f"{spot.email_change!r} needs the member ledger (ledger.enabled = true)"
                for alias, spot in self.spots.items()
                if spot.email_change != "follow"
            ]
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def warnings(self) -> list[str]:
        """Accepted but risky settings, to log at start-up."""
        return [
            f"spots.{alias}.private_key is shorter than {MIN_KEY_BYTES} bytes "
            "(accepted because allow_short_key = true)"
            for alias, spot in self.spots.items()
            if len(spot.key.get_secret_value().encode()) < MIN_KEY_BYTES
        ]

    def spot_by_id(self, spot_id: str) -> tuple[str, SpotConfig] | None:
        """The alias and Spot whose Spot ID is ``spot_id``."""
        wanted = spot_id.strip().lower()
        return next(((a, s) for a, s in self.spots.items() if s.id == wanted), None)

    def redacted(self) -> dict[str, Any]:
        """The effective configuration as JSON-ready data, every secret masked.

        Typed secrets mask themselves; a custom adapter's ``options`` are free-form, so
        any option whose name looks secret is masked too; every URL shows no password
        and no query value (``https://svc:****@host/me?api_key=****``).
        """
        data = self.model_dump(mode="json")
        data["identity"]["options"] = mask_secret_names(data["identity"]["options"])
        masked: dict[str, Any] = mask_urls(data)
        return masked

    def credential_names(self) -> list[str]:
        """Header and cookie names whose values are credentials, for the log redaction:
        the host API's auth header and the forwarded session headers and cookies."""
        http = self.identity.http
        if http is None:
            return []
        return [http.auth_header, *http.forward_headers, *http.forward_cookies]


def env_name(*path: str) -> str:
    """The environment variable that sets the field at ``path``."""
    return ENV_PREFIX + "__".join(part.upper() for part in path)


def _spot_problems(spots: Mapping[str, SpotConfig]) -> list[str]:
    problems: list[str] = []
    seen_ids: dict[str, str] = {}
    for alias, spot in spots.items():
        where = f"spots.{alias}"
        if not _ALIAS.match(alias):
            problems.append(f"{where}: alias must be lower-case letters, digits, '-' or '_'")
        problems += _key_problems(alias, spot)
        if spot.token_ttl_seconds > spot.max_token_ttl_seconds:
            problems.append(
                f"{where}.token_ttl_seconds ({env_name('spots', alias, 'token_ttl_seconds')}): "
                f"{spot.token_ttl_seconds} is above max_token_ttl_seconds "
                f"({spot.max_token_ttl_seconds})"
            )
        if spot.id in seen_ids:
            problems.append(
                f"{where}.id ({env_name('spots', alias, 'id')}): same Spot ID as "
                f"spots.{seen_ids[spot.id]}"
            )
        seen_ids.setdefault(spot.id, alias)
    return problems


def _key_problems(alias: str, spot: SpotConfig) -> list[str]:
    field = f"spots.{alias}.private_key ({env_name('spots', alias, 'private_key')}"
    field += f" or {env_name('spots', alias, 'private_key_file')})"
    if spot.private_key is None or not spot.private_key.get_secret_value().strip():
        return [f"{field}: {MISSING_KEY}"]
    secret = spot.private_key.get_secret_value()
    if is_placeholder(secret):
        return [f"{field}: {PLACEHOLDER_KEY}"]
    if len(secret.encode()) < MIN_KEY_BYTES and not spot.allow_short_key:
        return [
            f"{field}: shorter than {MIN_KEY_BYTES} bytes; set spots.{alias}.allow_short_key "
            "= true only if MeltingSpot really issued a key this short"
        ]
    return []


def _client_problems(settings: Settings) -> list[str]:
    problems: list[str] = []
    owners: dict[str, str] = {}
    for name, client in settings.clients.items():
        if not _ALIAS.match(name):
            problems.append(f"clients.{name}: name must be lower-case letters, digits, '-' or '_'")
        unknown = [alias for alias in client.spots if alias not in settings.spots]
        if unknown:
            problems.append(
                f"clients.{name}.spots ({env_name('clients', name, 'spots')}): "
                f"unknown Spot alias {', '.join(map(repr, unknown))}; "
                f"known: {', '.join(settings.spots) or 'none'}"
            )
        for digest in client.key_sha256:
            if digest in owners:
                problems.append(
                    f"clients.{name}.key_sha256 ({env_name('clients', name, 'key_sha256')}): "
                    "the same key digest is used by "
                    f"clients.{owners[digest]}; every API key must be unique"
                )
            owners.setdefault(digest, name)
    return problems


def read_toml(path: Path) -> dict[str, Any]:
    """The TOML file's tables, with relative ``*_file`` paths made relative to it."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError([f"config file {path}: cannot read it ({exc.strerror})"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"config file {path}: not valid TOML ({exc})"]) from None
    resolved: dict[str, Any] = _resolve_paths(data, path.parent)
    return resolved


def _resolve_paths(data: Any, base: Path) -> Any:
    if isinstance(data, dict):
        return {
            key: (
                str(base / value)
                if key.endswith("_file")
                and isinstance(value, str)
                and not Path(value).is_absolute()
                else _resolve_paths(value, base)
            )
            for key, value in data.items()
        }
    if isinstance(data, list):
        return [_resolve_paths(item, base) for item in data]
    return data


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``override`` on top, tables merged key by key."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_settings(
    config_file: Path | str | None = None,
    *,
    base: Mapping[str, Any] | None = None,
) -> Settings:
    """Build the settings from every source, or raise ``ConfigError`` naming each problem."""
    path = config_file or os.environ.get(CONFIG_ENV) or None
    data = deep_merge(base or {}, read_toml(Path(path)) if path else {})
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(describe(exc, model=Settings)) from None
    except SettingsError as exc:
        cause = f" ({exc.__cause__})" if exc.__cause__ else ""
        raise ConfigError([f"environment: {exc}{cause}; complex values are JSON"]) from None


def describe(
    exc: ValidationError,
    *,
    prefix: str = "",
    env: bool = True,
    model: type[BaseModel] | None = None,
) -> list[str]:
    """One line per problem: the field, its environment variable, what is wrong.

    With the ``model`` that was validated, an unknown name is told as such, with the
    known name closest to it, spelt as it was given: in the file or as a variable.
    """
    lines: list[str] = []
    for error in exc.errors(include_url=False, include_input=False):
        loc = error["loc"]
        message = error["msg"].removeprefix("Value error, ")
        if not loc:
            lines += [prefix + line for line in message.splitlines()]
            continue
        if model is not None and error["type"] == "extra_forbidden":
            lines.append(prefix + _unknown(model, loc, env=env))
            continue
        where = prefix + _dotted(loc)
        if env and all(isinstance(p, str) for p in loc):
            where += f" ({_variables(model, tuple(map(str, loc)))})"
        lines.append(f"{where}: {message}")
    return lines


def _unknown(model: type[BaseModel], loc: tuple[str | int, ...], *, env: bool) -> str:
    *table, name = map(str, loc)
    guess = closest(name, names_at(model, loc[:-1]))
    if env and all(isinstance(p, str) for p in loc) and _in_environment(env_name(*table, name)):
        hint = f"; did you mean `{env_name(*table, guess)}`?" if guess else ""
        return f"environment: unknown setting `{env_name(*table, name)}`{hint}"
    hint = f"; did you mean `{guess}`?" if guess else ""
    where = f"{_dotted(loc[:-1])}: " if table else ""
    return f"{where}unknown setting `{name}`{hint}"


def _variables(model: type[BaseModel] | None, loc: tuple[str, ...]) -> str:
    """The variable that sets ``loc``, and the one naming a file that holds it, if any."""
    *table, name = loc
    if model is not None and f"{name}_file" in names_at(model, table):
        return f"{env_name(*loc)} or {env_name(*table, f'{name}_file')}"
    return env_name(*loc)


def _dotted(loc: Sequence[str | int]) -> str:
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)
    return path if path.startswith("[") else path.lstrip(".")


def _in_environment(variable: str) -> bool:
    return any(name.upper() == variable for name in os.environ)
