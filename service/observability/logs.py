"""Logging: JSON lines (or text for humans) on stderr, redacted on the way out.

``configure_logging`` puts one handler on the root logger; uvicorn's loggers go through
it too, and uvicorn's own access log stays off (``RequestContext`` writes ours). The
handler carries a ``Redactor``: whatever any logger passes, by design or by mistake,
leaves without tokens, keys, cookies or credentials.

- Structural: an extra field (or a key of a dict inside one) named like a secret
  (``token``, ``authorization``, ``cookie``, ``api_key``, ``private_key``, ``key``,
  ``secret``, ``password``, ``credential``...) becomes ``"[redacted]"``.
- Textual, on the message, its arguments, every string extra and the traceback:
  JWTs, ``token=`` query values, ``Bearer`` credentials, ``sso_`` API keys,
  ``Cookie``/``Set-Cookie``/``Authorization`` header values, the password (or lone
  user name) and every query value of a URL (``mask_url``), and the values of the
  configured credential headers and session cookies (``secret_names``).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Iterable, Mapping
from datetime import date
from datetime import time as daytime
from typing import Any, Final, Literal

import orjson
from pythonjsonlogger.orjson import OrjsonFormatter

from service.secrets import is_secret_name, mask_url

LogFormat = Literal["json", "text"]

REDACTED: Final = "[redacted]"
REDACTED_JWT: Final = "[redacted-jwt]"

_STANDARD_ATTRS: Final = frozenset(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's copy of the message with terminal colours
}
_UVICORN_LOGGERS: Final = ("uvicorn", "uvicorn.error")

# Secret shapes in text. Each regex runs only when a plain substring test says its
# shape may be there, so ordinary text costs a lower() and a few ``in`` tests.
# A JWT: three base64url segments, the first one a JSON header ('{"' -> 'eyJ').
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
# Query or form parameters: token=..., access_token=..., api_key=..., password=...
_PARAM = re.compile(
    r"((?:token|api[_-]?key|private[_-]?key|secret|passw(?:or)?d)=)[^&#\s\"'<>]+", re.IGNORECASE
)
_PARAM_HINTS: Final = ("token=", "key=", "secret=", "password=", "passwd=")
# Header lines (HTTP, or a dict's repr): the whole value, to the end of the line.
_HEADER = re.compile(
    r"(\b(?:set-)?cookie|\b(?:proxy-)?authorization|\bx-api-key)([\"']?[ \t]*:[ \t]*)[^\r\n]+",
    re.IGNORECASE,
)
# An Authorization scheme followed by its credentials.
_BEARER = re.compile(r"\b(bearer)\s+[^\s\"',;]+", re.IGNORECASE)
# This service's API keys.
_API_KEY = re.compile(r"(?<![A-Za-z0-9_])(sso_)[A-Za-z0-9_-]+", re.IGNORECASE)
# A URL with a user name or a query, the two places a URL carries credentials.
_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>]*[@?][^\s\"'<>]*")
_PLAIN: Final = (int, float, bool, type(None), date, daytime, uuid.UUID)
_PLAIN_TYPES: Final = frozenset(_PLAIN)


def redact_text(text: str) -> str:
    """``text`` with every secret-shaped part replaced."""
    if "eyJ" in text:
        text = _JWT.sub(REDACTED_JWT, text)
    lowered = text.lower()
    if "=" in lowered and any(hint in lowered for hint in _PARAM_HINTS):
        text = _PARAM.sub(rf"\1{REDACTED}", text)
    if "cookie" in lowered or "authorization" in lowered or "x-api-key" in lowered:
        text = _HEADER.sub(rf"\1\2{REDACTED}", text)
    if "bearer" in lowered:
        text = _BEARER.sub(rf"\1 {REDACTED}", text)
    if "sso_" in lowered:
        text = _API_KEY.sub(rf"\1{REDACTED}", text)
    if "://" in text:  # last, so that a URL's query values all read the same: ****
        text = _URL.sub(lambda match: mask_url(match.group()), text)
    return text


def redact_value(value: Any) -> Any:
    """``value`` with secret-named entries masked and secret-shaped text replaced.

    Dicts, lists, tuples and sets are walked; numbers, dates and UUIDs pass as they
    are; any other object is logged as its (redacted) ``str``.
    """
    kind = type(value)
    if kind is str:
        return redact_text(value)
    if kind in _PLAIN_TYPES or isinstance(value, _PLAIN):
        return value
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {
            key: REDACTED if is_secret_name(str(key)) else redact_value(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(item) for item in value]
    return redact_text(str(value))


class Redactor(logging.Filter):
    """Redacts a record in place; put it on a handler so it sees every logger's records.

    It never drops a record and never raises: a record it cannot render keeps only what
    it could redact. Applying it twice changes nothing more. ``secret_names`` are more
    names whose values are credentials (a host's own auth header, forwarded session
    headers and cookies): masked as extras, as ``Name: value`` lines and ``name=value``.
    """

    _exception_formatter = logging.Formatter()

    def __init__(self, secret_names: Iterable[str] = ()) -> None:
        super().__init__()
        names = sorted({name.lower() for name in secret_names if name}, key=len, reverse=True)
        self._names = frozenset(names)
        self._named = (
            re.compile(
                r"(?<![\w-])(" + "|".join(map(re.escape, names)) + r")"
                r"([\"']?[ \t]*[:=][ \t]*[\"']?)[^\r\n&;,\"'\s]+",
                re.IGNORECASE,
            )
            if names
            else None
        )

    def _text(self, text: str) -> str:
        text = redact_text(text)
        if self._named is not None:
            text = self._named.sub(rf"\1\2{REDACTED}", text)
        return text

    def _secret(self, name: str) -> bool:
        return is_secret_name(name) or name.lower() in self._names

    def _value(self, value: Any) -> Any:
        if self._named is None:
            return redact_value(value)
        if isinstance(value, str):
            return self._text(value)
        if isinstance(value, Mapping):
            return {
                k: REDACTED if self._secret(str(k)) else self._value(v) for k, v in value.items()
            }
        if isinstance(value, list | tuple | set | frozenset):
            return [self._value(item) for item in value]
        return redact_value(value)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            self._redact(record)
        except Exception:  # a log line must never break the caller
            record.msg, record.args = "[log record could not be redacted]", ()
            record.exc_info, record.exc_text, record.stack_info = None, None, None
            for name in _extras(record):
                record.__dict__[name] = REDACTED
        return True

    def _redact(self, record: logging.LogRecord) -> None:
        record.__dict__.pop("color_message", None)
        if isinstance(record.msg, Mapping):  # python-json-logger's dict messages
            record.msg = self._value(record.msg)
            record.args = self._value(record.args) if record.args else record.args
        else:
            try:
                message = record.getMessage()
            except Exception:  # a malformed call: keep what was passed, as text
                message = f"{record.msg} {record.args!r}"
            redacted = self._text(message)
            if redacted != message or not isinstance(record.msg, str):
                record.msg, record.args = redacted, ()
        for name in _extras(record):
            value = record.__dict__[name]
            record.__dict__[name] = REDACTED if self._secret(name) else self._value(value)
        if record.exc_info and record.exc_info[0] is not None:
            # The traceback is rendered and redacted here, and the exception itself
            # dropped, so no formatter can render the original.
            if not record.exc_text:
                record.exc_text = self._exception_formatter.formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = self._text(record.exc_text)
        if record.stack_info:
            record.stack_info = self._text(record.stack_info)


def _extras(record: logging.LogRecord) -> list[str]:
    return [name for name in record.__dict__ if name not in _STANDARD_ATTRS]


_second: tuple[int, str] = (-1, "")


def _timestamp(record: logging.LogRecord) -> str:
    """ISO-8601 UTC with milliseconds: ``2026-11-27T09:00:00.123Z``."""
    global _second
    whole = int(record.created)
    if whole != _second[0]:  # formatted once per second, not once per line
        _second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    return f"{_second[1]}.{int(record.msecs):03d}Z"


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""


_CORE: Final = frozenset({"time", "level", "logger", "message"})
_NOT_EXTRA: Final = _STANDARD_ATTRS | _CORE


class JsonFormatter(OrjsonFormatter):
    """One JSON object per line: time, level, logger, message, the extras, then ``error``.

    ``error`` is the last line of the traceback (``ValueError: ...``): short, and already
    redacted when the ``Redactor`` ran first. python-json-logger's orjson formatter does
    the encoding; the fields are gathered in one pass over the record (the library's
    generic merge, with its per-field checks, cost more than the encoding).
    """

    def __init__(self) -> None:
        super().__init__(reserved_attrs=list(_STANDARD_ATTRS))

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        traceback = message_dict.pop("exc_info", None)
        message_dict.pop("stack_info", None)
        log_data["time"] = _timestamp(record)
        log_data["level"] = record.levelname.lower()
        log_data["logger"] = record.name
        log_data["message"] = record.message
        for name, value in message_dict.items():  # a dict passed as the message
            if name not in _CORE:
                log_data[name] = value
        for name, value in record.__dict__.items():  # an extra cannot pass for a core field
            if name not in _NOT_EXTRA and name[:1] != "_":
                log_data[name] = value
        if traceback:  # wins over an extra called "error"
            log_data["error"] = _last_line(str(traceback))

    def jsonify_log_record(self, log_data: dict[str, Any]) -> str:
        try:
            return super().jsonify_log_record(log_data)
        except orjson.JSONEncodeError:  # e.g. an integer beyond 64 bits: the slow path
            return json.dumps(log_data, default=str, ensure_ascii=False, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    """``2026-11-27T09:00:00.123Z info  spot_sso.access  POST /tokens 200  status=200 ...``"""

    def format(self, record: logging.LogRecord) -> str:
        line = (
            f"{_timestamp(record)} {record.levelname.lower():<5} {record.name}  "
            f"{record.getMessage()}"
        )
        extras = " ".join(
            f"{name}={_text_value(record.__dict__[name])}" for name in _extras(record)
        )
        if extras:
            line += "  " + extras
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line += "\n" + record.exc_text.rstrip("\n")
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


def _text_value(value: Any) -> str:
    if isinstance(value, str):
        if value and not any(c.isspace() or c in "\"'=" for c in value):
            return value
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool | int | float) or value is None:
        return json.dumps(value)
    return json.dumps(value, default=str, ensure_ascii=False, separators=(",", ":"))


def make_handler(
    fmt: LogFormat = "json", stream: Any = None, secret_names: Iterable[str] = ()
) -> logging.Handler:
    """A stream handler (stderr by default) in ``fmt``, with the ``Redactor`` on it."""
    if fmt not in ("json", "text"):
        raise ValueError(f"log format must be json or text, not {fmt!r}")
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    handler.addFilter(Redactor(secret_names))
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    return handler


def lean_records() -> None:
    """Log records without the caller's file and line, thread, process or asyncio task
    (Python 3.12+): nothing we write needs them, so they are not looked up."""
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    if sys.version_info >= (3, 12):
        logging.logAsyncioTasks = False


def configure_logging(
    level: str = "info", fmt: LogFormat = "json", secret_names: Iterable[str] = ()
) -> None:
    """Our loggers and uvicorn's on one redacting stderr handler; uvicorn's access log off.

    ``secret_names``: the configuration's own credential headers and session cookies
    (``Settings.credential_names``), masked in every line as well.

    The handler writes in the request's own thread, not through a queue to a writer
    thread (bench/README.md says why).
    """
    lean_records()
    root = logging.getLogger()
    root.handlers[:] = [make_handler(fmt, secret_names=secret_names)]
    root.setLevel(level.upper())
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per host call is noise
    for name in _UVICORN_LOGGERS:
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True
