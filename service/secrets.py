"""Secret values: where they come from, what a placeholder looks like, how to mask them.

Used by the settings (secret files, placeholder refusal, ``check-config``'s masking) and
by the log redaction, so that both hide the same things the same way.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

from pydantic import SecretStr

MASK: Final = "****"
MASKED_FIELD: Final = "**********"  # how pydantic shows a SecretStr

# A field name is secret if, lower-cased with '-' and camelCase humps turned into '_',
# it contains one of these words, or is ``key`` or ends with ``_key``/``_keys``.
_SECRET_NAME = re.compile(
    r"token|authori[sz]ation|cookie|api_?key|private_?key|secret|passw(?:or)?d|credential"
    r"|(?:^|_)keys?$"
)
_HUMP = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


@lru_cache(maxsize=1024)
def is_secret_name(name: str) -> bool:
    """Whether a field called ``name`` holds a secret (``accessToken``, ``X-API-Key``...)."""
    return bool(_SECRET_NAME.search(_HUMP.sub("_", name).lower().replace("-", "_")))


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


def mask_url(url: str) -> str:
    """``url`` with its password and query values masked: ``https://svc:****@host/me?k=****``.

    A user name without a password is masked too (it is then the credential); a query
    part without '=' is masked whole. Anything that does not parse as a URL comes back
    as it is.
    """
    try:
        parts = urlsplit(url)
        has_password = parts.password is not None
    except ValueError:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0] if has_password else ""
        netloc = f"{user}:{MASK}@{hostport}" if has_password else f"{MASK}@{hostport}"
    query = "&".join(
        f"{pair.split('=', 1)[0]}={MASK}" if "=" in pair else MASK
        for pair in parts.query.split("&")
        if pair
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def mask_secret_names(value: Any) -> Any:
    """``value`` with every entry whose name looks secret masked, at any depth."""
    if isinstance(value, dict):
        return {
            k: MASKED_FIELD if is_secret_name(k) else mask_secret_names(v) for k, v in value.items()
        }
    if isinstance(value, list):
        return [mask_secret_names(item) for item in value]
    return value


def mask_urls(value: Any) -> Any:
    """``value`` with every URL in it masked (``mask_url``), at any depth."""
    if isinstance(value, dict):
        return {k: mask_urls(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_urls(item) for item in value]
    if isinstance(value, str) and "://" in value:
        return mask_url(value)
    return value
