"""Logging: JSON lines (or text for humans) on stderr, redacted on the way out.

Two ways in, one way out. The service's own per-request events (the access line, which
carries the audit fields of a token it issued) are structlog events: a bound logger
from ``event_log`` runs a short processor chain and writes bytes, outside the stdlib
logging record chain. Everything else (uvicorn, httpx, the service's rarer warnings and
errors) goes through stdlib logging: ``configure_logging`` puts one handler on the root
logger, with a ``Redactor`` filter and structlog's ``ProcessorFormatter`` running the
same processors. uvicorn's own access log stays off (``RequestContext`` writes ours).

The ``redact`` processor runs on every line of both ways: whatever any logger passes, by
design or by mistake, leaves without tokens, keys, cookies or credentials.

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
import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

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
        self._verdicts: dict[str, bool] = {}
        self._named = (
            re.compile(
                r"(?<![\w-])(" + "|".join(map(re.escape, names)) + r")"
                r"([\"']?[ \t]*[:=][ \t]*[\"']?)[^\r\n&;,\"'\s]+",
                re.IGNORECASE,
            )
            if names
            else None
        )

    def text(self, text: str) -> str:
        """``text`` redacted, the configured names' values too."""
        text = redact_text(text)
        if self._named is not None and ("=" in text or ":" in text):
            text = self._named.sub(rf"\1\2{REDACTED}", text)
        return text

    def secret(self, name: str) -> bool:
        """Whether a field called ``name`` holds a secret (its verdict kept per name)."""
        verdict = self._verdicts.get(name)
        if verdict is None:
            verdict = is_secret_name(name) or name.lower() in self._names
            if len(self._verdicts) < 1024:
                self._verdicts[name] = verdict
        return verdict

    def value(self, value: Any) -> Any:
        if self._named is None:
            return redact_value(value)
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {k: REDACTED if self.secret(str(k)) else self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self.value(item) for item in value]
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
        if isinstance(record.msg, Mapping):  # a dict passed as the message
            record.msg = self.value(record.msg)
            record.args = self.value(record.args) if record.args else record.args
        else:
            try:
                message = record.getMessage()
            except Exception:  # a malformed call: keep what was passed, as text
                message = f"{record.msg} {record.args!r}"
            redacted = self.text(message)
            if redacted != message or not isinstance(record.msg, str):
                record.msg, record.args = redacted, ()
        for name in _extras(record):
            value = record.__dict__[name]
            record.__dict__[name] = REDACTED if self.secret(name) else self.value(value)
        if record.exc_info and record.exc_info[0] is not None:
            # The traceback is rendered and redacted here, and the exception itself
            # dropped, so no formatter can render the original.
            if not record.exc_text:
                record.exc_text = self._exception_formatter.formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = self.text(record.exc_text)
        if record.stack_info:
            record.stack_info = self.text(record.stack_info)


def _extras(record: logging.LogRecord) -> list[str]:
    return [name for name in record.__dict__ if name not in _STANDARD_ATTRS]


# --- the processors: one chain for structlog events and stdlib records ------------------

_CORE: Final = ("time", "level", "logger", "message")
# Keys the chain keeps for the renderer and never writes as fields.
_TRACEBACK: Final = "_traceback"
_STACK: Final = "_stack"
_CREATED: Final = "_created"
_LOGGER: Final = "_logger"

_second: tuple[int, str] = (-1, "")


def _timestamp(created: float) -> str:
    """ISO-8601 UTC with milliseconds: ``2026-11-27T09:00:00.123Z``."""
    global _second
    whole = int(created)
    if whole != _second[0]:  # formatted once per second, not once per line
        _second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    return f"{_second[1]}.{int((created - whole) * 1000):03d}Z"


def from_record(logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
    """A stdlib record (already through the ``Redactor``) as an event: its message, its
    extras (a dict message's keys too), its logger's name, time and traceback.

    An extra cannot pass for a core field; an extra named ``event`` stays ``event``.
    """
    record: logging.LogRecord = event["_record"]
    fields: dict[str, Any] = {}
    if isinstance(record.msg, Mapping):  # a dict passed as the message
        fields.update(record.msg)
        message = ""
    else:
        message = event["event"]
    for name in _extras(record):
        if name[:1] != "_":
            fields[name] = record.__dict__[name]
    out: EventDict = {_LOGGER: record.name, _CREATED: record.created}
    for name, value in fields.items():
        if name not in _CORE:
            out["_event" if name == "event" else name] = value
    out["event"] = message
    if record.exc_text:
        out[_TRACEBACK] = record.exc_text
    if record.stack_info:
        out[_STACK] = record.stack_info
    return out


def core_fields(logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
    """``time``, ``level``, ``logger``, ``message`` first, then the fields in their order.

    structlog calls the message ``event``; a field named ``event`` (an event's kind,
    ``token_issued``) is passed as ``_event``, structlog's ``EventRenamer`` convention.
    """
    created = event.pop(_CREATED, None)
    out: EventDict = {
        "time": _timestamp(time.time() if created is None else created),
        "level": "warning" if method == "warn" else method,
        "logger": event.pop(_LOGGER, ""),
        "message": event.pop("event", ""),
    }
    for name, value in event.items():
        if name == "_event":
            out["event"] = value
        elif name not in _CORE:
            out[name] = value
    return out


class Redact:
    """The processor that redacts every field of an event, as the ``Redactor`` does a
    record: secret-named fields become ``[redacted]``, secret-shaped text is masked.
    Text goes straight to ``redact_text``'s quick substring tests; numbers pass."""

    def __init__(self, secret_names: Iterable[str] = ()) -> None:
        self._redactor = Redactor(secret_names)

    def __call__(self, logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
        redactor = self._redactor
        for name, value in event.items():
            if name == "time" or name == "level":
                continue
            if name[:1] != "_" and name not in _CORE and redactor.secret(name):
                event[name] = REDACTED
            elif type(value) is str:
                event[name] = redactor.text(value)
            elif type(value) is list and all(type(item) is str for item in value):
                event[name] = [redactor.text(item) for item in value]
            elif not (type(value) is int or type(value) is float or value is None):
                event[name] = redactor.value(value)
        return event


def _json(event: EventDict) -> bytes:
    traceback = event.pop(_TRACEBACK, None)
    event.pop(_STACK, None)
    if traceback:  # the last line (``ValueError: ...``), already redacted; wins over a field
        event["error"] = _last_line(traceback)
    try:
        return orjson.dumps(event, default=str)
    except orjson.JSONEncodeError:  # e.g. an integer beyond 64 bits: the slow path
        text = json.dumps(event, default=str, ensure_ascii=False, separators=(",", ":"))
        return text.encode()


def _text(event: EventDict) -> str:
    """``2026-11-27T09:00:00.123Z info  spot_sso.access  POST /tokens 200  status=200 ...``"""
    traceback = event.pop(_TRACEBACK, None)
    stack = event.pop(_STACK, None)
    time_, level, logger, message = (event.pop(name) for name in _CORE)
    line = f"{time_} {level:<5} {logger}  {message}"
    extras = " ".join(f"{name}={_text_value(value)}" for name, value in event.items())
    if extras:
        line += "  " + extras
    if traceback:
        line += "\n" + traceback.rstrip("\n")
    if stack:
        line += "\n" + stack.rstrip("\n")
    return line


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""


def _text_value(value: Any) -> str:
    if isinstance(value, str):
        if value and not any(c.isspace() or c in "\"'=" for c in value):
            return value
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool | int | float) or value is None:
        return json.dumps(value)
    return json.dumps(value, default=str, ensure_ascii=False, separators=(",", ":"))


def _renderer(fmt: LogFormat, *, as_bytes: bool) -> Processor:
    """The chain's last step: the line, as bytes for structlog's ``BytesLogger`` or as
    text for a stdlib handler."""
    if fmt == "json":
        if as_bytes:
            return lambda logger, method, event: _json(event)
        return lambda logger, method, event: _json(event).decode()
    if fmt == "text":
        if as_bytes:
            return lambda logger, method, event: _text(event).encode()
        return lambda logger, method, event: _text(event)
    raise ValueError(f"log format must be json or text, not {fmt!r}")


def processors(
    fmt: LogFormat = "json", secret_names: Iterable[str] = (), *, as_bytes: bool = True
) -> list[Processor]:
    """The chain every line goes through: core fields, redaction, rendering."""
    return [core_fields, Redact(secret_names), _renderer(fmt, as_bytes=as_bytes)]


def make_handler(
    fmt: LogFormat = "json", stream: Any = None, secret_names: Iterable[str] = ()
) -> logging.Handler:
    """A stdlib stream handler (stderr by default) in ``fmt``: the ``Redactor`` on the
    record, then structlog's ``ProcessorFormatter`` with the same chain as the events."""
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    handler.addFilter(Redactor(secret_names))
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[from_record],
            processors=processors(fmt, secret_names, as_bytes=False),
            use_get_message=True,
            keep_exc_info=False,
            keep_stack_info=False,
        )
    )
    return handler


def configure_events(
    level: str = "info",
    fmt: LogFormat = "json",
    secret_names: Iterable[str] = (),
    stream: Any = None,
) -> None:
    """The structlog side: ``event_log`` loggers write through the chain to ``stream``
    (stderr by default): as bytes to its binary buffer when it has one, else as text."""
    stream = sys.stderr if stream is None else stream
    binary = getattr(stream, "buffer", None)
    factory: Any = (
        structlog.BytesLoggerFactory(binary)
        if binary is not None
        else structlog.WriteLoggerFactory(stream)
    )
    structlog.configure(
        processors=processors(fmt, secret_names, as_bytes=binary is not None),
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=factory,
        cache_logger_on_first_use=False,
    )


def event_log(name: str) -> Any:
    """A structlog logger for the service's own events, named ``name`` in each line.

    ``log.info(message, **fields)``; the field ``event`` (an event's kind) is passed as
    ``_event``. It resolves the configuration at each call: ``configure_events`` may come
    after the import.
    """
    return structlog.get_logger(**{_LOGGER: name})


def lean_records() -> None:
    """Log records without the caller's file and line, thread, process or asyncio task
    (Python 3.12+): nothing we write needs them, so they are not looked up."""
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    if sys.version_info >= (3, 12):
        logging.logAsyncioTasks = False


def configure_logging(
    level: str = "info",
    fmt: LogFormat = "json",
    secret_names: Iterable[str] = (),
    stream: Any = None,
) -> None:
    """Both ways in, to one stream (stderr): the structlog events, and the stdlib root
    logger's one redacting handler for our loggers, uvicorn's and third parties'; uvicorn's
    access log off.

    ``secret_names``: the configuration's own credential headers and session cookies
    (``Settings.credential_names``), masked in every line as well.

    Lines are written in the request's own thread, not through a queue to a writer
    thread (bench/README.md says why).
    """
    if fmt not in ("json", "text"):
        raise ValueError(f"log format must be json or text, not {fmt!r}")
    lean_records()
    configure_events(level, fmt, secret_names, stream)
    root = logging.getLogger()
    root.handlers[:] = [make_handler(fmt, stream, secret_names)]
    root.setLevel(level.upper())
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per host call is noise
    for name in _UVICORN_LOGGERS:
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True


if not structlog.is_configured():  # until configured: warnings and above, on stderr, as
    configure_events("warning")  # stdlib logging's last resort does for its records
