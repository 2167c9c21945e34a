"""Secret values: where they come from, what a placeholder or a guessable key looks like,
how to mask them.

Used by the settings (secret files, placeholder and weak-key refusal, ``check-config``'s
masking) and by the log redaction, so that both hide the same things the same way.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
from array import array
from bisect import bisect_left
from collections.abc import Iterator
from functools import cache, lru_cache
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
    r"^(?:<.*>|\$\{.*\}|\{\{.*\}\}|(.)\1*|x+(?:[-_ .]x+)+|(?:todo|fixme)\b.*|"
    r".*(?:change[-_ ]?me|replace[-_ ]?(?:me|with)|placeholder|your[-_ ]?(?:private[-_ ]?)?key|"
    r"insert[-_ ]?key|secret[-_ ]?here|paste[-_ ]|your[-_ ].*[-_ ]here).*"
    r"|secret|password|key|private[-_ ]?key)$",
    re.IGNORECASE,
)
# THE-SPOT-PRIVATE-KEY, SPOT_PRIVATE_KEY: a name in capitals, where the value should go.
_SHOUTED_NAME = re.compile(r"^[A-Z]+(?:[-_][A-Z]+)+$")


def is_placeholder(secret: str) -> bool:
    """True for values left from a template: ``changeme``, ``<your-key>``, ``xxxx``,
    ``your-key-here``, ``THE-SPOT-PRIVATE-KEY``..."""
    value = secret.strip()
    return bool(_PLACEHOLDER.match(value) or _SHOUTED_NAME.match(value))


def is_guessable_digest(digest: str) -> bool:
    """True when ``digest`` (SHA-256, hex) is that of a key anyone could guess: a common
    password, word or name as zxcvbn lists them (as listed and lower-case), or one
    printable ASCII character repeated 1 to 128 times."""
    prefixes = _guessable_prefixes()
    wanted = array("Q", bytes.fromhex(digest[:16]))[0]
    found = bisect_left(prefixes, wanted)
    return found < len(prefixes) and prefixes[found] == wanted


@cache
def _guessable_prefixes() -> array[int]:
    """The first 8 bytes of each guessable key's digest, as 64-bit numbers, sorted.

    Built once per process, at the first settings validation (about 0.3 s), never on a
    request; kept in 1 MB where a set of hex digests takes 17 MB. Eight bytes are enough:
    the odds that a random key's digest starts like one of these ~106,000 are 1 in 10^14.
    """
    prefixes = array("Q")
    for key in _guessable_keys():
        prefixes.frombytes(hashlib.sha256(key.encode()).digest()[:8])
    return array("Q", sorted(prefixes))


def _guessable_keys() -> Iterator[str]:
    for ranked in _frequency_lists().values():
        for word in ranked:
            yield word
            if word.lower() != word:
                yield word.lower()
    for code in range(0x20, 0x7F):
        for length in range(1, 129):
            yield chr(code) * length


def _frequency_lists() -> dict[str, list[str]]:
    """zxcvbn's ``frequency_lists.FREQUENCY_LISTS`` (passwords, english_wikipedia,
    surnames...), loaded on its own: importing zxcvbn would also build its matcher's
    tables (13 MB), which this process would keep for nothing."""
    package = importlib.util.find_spec("zxcvbn")
    if package is None or package.origin is None:
        raise ModuleNotFoundError("zxcvbn is not installed", name="zxcvbn")
    spec = importlib.util.spec_from_file_location(
        "zxcvbn.frequency_lists", Path(package.origin).with_name("frequency_lists.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    lists: dict[str, list[str]] = module.FREQUENCY_LISTS
    return lists


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
