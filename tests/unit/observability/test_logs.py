"""Logs: the JSON line, the text line, and the Redactor against hostile records."""

from __future__ import annotations

import io
import json
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from service.observability.logs import (
    REDACTED,
    REDACTED_JWT,
    LogFormat,
    Redactor,
    configure_logging,
    make_handler,
    redact_text,
    redact_value,
)
from service.runtime.clients import new_api_key
from service.secrets import is_secret_name, mask_url
from service.settings.model import Settings
from tests.support.logs import TOKEN
from tests.support.settings import settings_data

API_KEY = new_api_key()
SECRET = "s3cr3t-value-that-must-not-show"
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
ORDINARY = {
    "request_id": "6f1c2a9e4b7d4e0f8a1b2c3d4e5f6a7b",
    "spot": "main",
    "sub": "u-1",
    "status": 200,
    "path": "/tokens",
    "route": "/tokens",
    "method": "POST",
    "duration_ms": 3.25,
    "client": "billing",
    "client_ip": "127.0.0.1",
    "flow": "tokens",
    "event": "token_issued",
    "ttl_seconds": 600,
    "exp": 1_700_000_600,
    "rules": ["groups", "properties"],
    "key_sha256": "0" * 64,
}


class Capture:
    """A private logger writing through a production handler into a string."""

    def __init__(self, fmt: LogFormat) -> None:
        self.stream = io.StringIO()
        self.handler = make_handler(fmt, self.stream)
        self.logger = logging.getLogger(f"tests.logs.{fmt}")
        self.logger.handlers[:] = [self.handler]
        self.logger.setLevel(logging.DEBUG)
        self.logger.propagate = False

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def entries(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines()]

    def last(self) -> dict[str, Any]:
        return self.entries()[-1]

    def close(self) -> None:
        self.logger.handlers[:] = []
        self.logger.propagate = True


@pytest.fixture
def logs() -> Iterator[Capture]:
    capture = Capture("json")
    yield capture
    capture.close()


@pytest.fixture
def text_logs() -> Iterator[Capture]:
    capture = Capture("text")
    yield capture
    capture.close()


@pytest.fixture
def root_logging() -> Iterator[None]:
    """Put back the root and uvicorn loggers and structlog's configuration as they were:
    configure_logging changes them."""
    names = ("uvicorn", "uvicorn.error", "uvicorn.access")
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    loggers = {n: logging.getLogger(n) for n in names}
    states = {n: (lg.handlers[:], lg.propagate, lg.disabled) for n, lg in loggers.items()}
    flags = ("_srcfile", "logThreads", "logProcesses", "logMultiprocessing")
    saved = {flag: getattr(logging, flag) for flag in flags}
    events = structlog.get_config()
    yield
    structlog.configure(**events)
    for flag, value in saved.items():
        setattr(logging, flag, value)
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, logger in loggers.items():
        logger.handlers[:], logger.propagate, logger.disabled = states[name]


# --- the JSON line ---------------------------------------------------------------------


def test_a_json_line_has_time_level_logger_message_then_the_extras(logs: Capture) -> None:
    before = time.time()
    logs.logger.info("%s %s %d", "POST", "/tokens", 200, extra={"request_id": "r-1", "n": 1})
    line = logs.text
    assert line.endswith("\n") and line.count("\n") == 1
    entry = json.loads(line)
    assert list(entry) == ["time", "level", "logger", "message", "request_id", "n"]
    assert TIME.match(entry["time"])
    stamp = time.mktime(time.strptime(entry["time"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
    assert before - 1 <= stamp <= time.time() + 1  # UTC
    assert entry["level"] == "info"
    assert entry["logger"] == "tests.logs.json"
    assert entry["message"] == "POST /tokens 200"
    assert (entry["request_id"], entry["n"]) == ("r-1", 1)


def test_json_keeps_unicode_newlines_and_odd_objects_on_one_line(logs: Capture) -> None:
    logs.logger.warning("line one\nline two: Zoë", extra={"when": Path("/tmp/x"), "ids": (1, 2)})
    assert logs.text.count("\n") == 1
    entry = logs.last()
    assert entry["message"] == "line one\nline two: Zoë" and "Zoë" in logs.text
    assert (entry["level"], entry["when"], entry["ids"]) == ("warning", "/tmp/x", [1, 2])


def test_an_exception_is_a_short_error_field(logs: Capture) -> None:
    try:
        raise ValueError("the host answered 502")
    except ValueError:
        logs.logger.exception("lookup failed")
    entry = logs.last()
    assert entry["level"] == "error"
    assert entry["error"] == "ValueError: the host answered 502"
    assert "exc_info" not in entry and "Traceback" not in logs.text


def test_values_orjson_cannot_encode_still_make_one_json_line(logs: Capture) -> None:
    logs.logger.info("big", extra={"huge": 2**70, "ratio": float("inf"), "sub": "u-1"})
    assert logs.text.count("\n") == 1
    entry = logs.last()
    assert (entry["huge"], entry["sub"]) == (2**70, "u-1")


def test_each_line_has_its_own_second_and_milliseconds() -> None:
    formatter = make_handler("json").formatter
    assert formatter is not None
    stamps = []
    for created in (1_795_000_000.125, 1_795_000_000.875, 1_795_000_001.0625, 1_700_000_000.5):
        record = logging.makeLogRecord({"msg": "tick", "created": created})
        record.msecs = (created - int(created)) * 1000
        stamps.append(json.loads(formatter.format(record))["time"])
    assert stamps == [
        "2026-11-18T11:06:40.125Z",
        "2026-11-18T11:06:40.875Z",
        "2026-11-18T11:06:41.062Z",
        "2023-11-14T22:13:20.500Z",
    ]


def test_an_error_extra_is_kept_and_a_traceback_wins_over_it(logs: Capture) -> None:
    logs.logger.warning("redis down", extra={"component": "ratelimit", "error": "timeout"})
    assert logs.last()["error"] == "timeout"
    try:
        raise ValueError("boom")
    except ValueError:
        logs.logger.exception("failed", extra={"error": "an extra"})
    assert logs.last()["error"] == "ValueError: boom"


def test_an_extra_cannot_pass_for_a_core_field(logs: Capture) -> None:
    logs.logger.info("hello", extra={"level": "critical", "logger": "spot_sso.audit"})
    entry = logs.last()
    assert (entry["level"], entry["logger"]) == ("info", "tests.logs.json")


def test_ordinary_fields_survive_untouched(logs: Capture, text_logs: Capture) -> None:
    logs.logger.info("POST /tokens 200", extra=ORDINARY)
    entry = logs.last()
    assert {k: v for k, v in entry.items() if k in ORDINARY} == ORDINARY
    assert list(entry)[4:] == list(ORDINARY)
    text_logs.logger.info("POST /tokens 200", extra=ORDINARY)
    assert "request_id=6f1c2a9e4b7d4e0f8a1b2c3d4e5f6a7b spot=main sub=u-1 status=200" in (
        text_logs.text
    )
    assert "[redacted" not in logs.text + text_logs.text


# --- the text line ---------------------------------------------------------------------


def test_a_text_line_is_readable(text_logs: Capture) -> None:
    text_logs.logger.info(
        "%s %s %d",
        "POST",
        "/tokens",
        200,
        extra={"request_id": "r-1", "status": 200, "note": "two words", "rules": ["groups"]},
    )
    line = text_logs.text
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z info  tests\.logs\.text  POST /tokens 200  "
        r'request_id=r-1 status=200 note="two words" rules=\["groups"\]\n',
        line,
    ), line


def test_a_text_line_carries_the_redacted_traceback(text_logs: Capture) -> None:
    try:
        try:
            raise KeyError(f"no user for {TOKEN}")
        except KeyError as exc:
            raise RuntimeError("lookup failed") from exc
    except RuntimeError:
        text_logs.logger.exception("authorize failed")
    out = text_logs.text
    assert " error tests.logs.text  authorize failed\nTraceback (most recent call last):" in out
    assert f"KeyError: 'no user for {REDACTED_JWT}'" in out
    assert out.rstrip().endswith("RuntimeError: lookup failed")
    assert TOKEN not in out and TOKEN.split(".")[2] not in out


# --- redaction: hostile records --------------------------------------------------------


class Shows:
    """An object whose ``str`` carries a secret, as an URL or a request would."""

    def __str__(self) -> str:
        return f"<Request GET https://host.example/cb?token={TOKEN}>"


R, J = REDACTED, REDACTED_JWT
URL = "https://host.example/cb"


def case(name: str, message: str, *args: Any, expect: dict[str, Any], **extra: Any) -> Any:
    """A hostile log call, and the fields its JSON line must have."""
    return pytest.param(message, args, extra, expect, id=name)


HOSTILE = [
    case("extra token", "x", token=TOKEN, expect={"token": R}),
    case("extra access_token", "x", access_token=SECRET, expect={"access_token": R}),
    case("extra cookie", "x", cookie=f"sid={SECRET}", expect={"cookie": R}),
    case("extra api_key", "x", api_key=SECRET, expect={"api_key": R}),
    case("extra apiKey", "x", apiKey=SECRET, expect={"apiKey": R}),
    case("extra apikey", "x", apikey=SECRET, expect={"apikey": R}),
    case("extra private_key", "x", private_key=SECRET, expect={"private_key": R}),
    case("extra privateKey", "x", privateKey=SECRET, expect={"privateKey": R}),
    case("extra key", "x", key=SECRET, expect={"key": R}),
    case("extra signing_key", "x", signing_key=SECRET, expect={"signing_key": R}),
    case("extra client_secret", "x", client_secret=SECRET, expect={"client_secret": R}),
    case("extra password", "x", password=SECRET, expect={"password": R}),
    case("extra credentials", "x", credentials=[SECRET], expect={"credentials": R}),
    case(
        "extra Authorization",
        "x",
        **{"Authorization": f"Bearer {SECRET}"},
        expect={"Authorization": R},
    ),
    case("extra Set-Cookie", "x", **{"Set-Cookie": f"sid={SECRET}"}, expect={"Set-Cookie": R}),
    case("extra X-API-Key", "x", **{"X-API-Key": SECRET}, expect={"X-API-Key": R}),
    case(
        "nested in dicts",
        "x",
        request={
            "headers": {"authorization": f"Bearer {SECRET}", "Cookie": SECRET, "accept": "*/*"},
            "body": {"user": {"api_key": SECRET, "sub": "u-1"}},
        },
        expect={
            "request": {
                "headers": {"authorization": R, "Cookie": R, "accept": "*/*"},
                "body": {"user": {"api_key": R, "sub": "u-1"}},
            }
        },
    ),
    case(
        "nested in lists",
        "x",
        attempts=[{"private_key": SECRET, "n": 1}, [{"token": SECRET}], ("sid", TOKEN)],
        expect={"attempts": [{"private_key": R, "n": 1}, [{"token": R}], ["sid", J]]},
    ),
    case(
        "header pairs in a list",
        "x",
        headers=[("authorization", f"Bearer {SECRET}"), ("set-cookie", f"Set-Cookie: {SECRET}")],
        expect={"headers": [["authorization", f"Bearer {R}"], ["set-cookie", f"Set-Cookie: {R}"]]},
    ),
    case(
        "JWT in the message", f"issued {TOKEN} for u-1", expect={"message": f"issued {J} for u-1"}
    ),
    case(
        "JWT in the args",
        "issued %s for %s",
        TOKEN,
        "u-1",
        expect={"message": f"issued {J} for u-1"},
    ),
    case("JWT in a string extra", "x", detail=f"got {TOKEN}", expect={"detail": f"got {J}"}),
    case(
        "object arg", "sent %s", Shows(), expect={"message": f"sent <Request GET {URL}?token=****>"}
    ),
    case(
        "object extra", "x", request=Shows(), expect={"request": f"<Request GET {URL}?token=****>"}
    ),
    case(
        "bytes extra",
        "x",
        body=f'{{"t": "{TOKEN}"}}'.encode(),
        expect={"body": f'b\'{{"t": "{J}"}}\''},
    ),
    case(
        "?token= in a logged URL",
        "redirect to %s",
        "https://go.meltingspot.io/cb?referrerUrl=%2Fa&token=abc123&x=1",
        expect={
            "message": "redirect to https://go.meltingspot.io/cb?referrerUrl=****&token=****&x=****"
        },
    ),
    case("?token= in an extra", "x", url="/cb?token=abc123", expect={"url": f"/cb?token={R}"}),
    case(
        "other secret parameters",
        "x",
        q="a=1&api_key=k1&password=p",
        expect={"q": f"a=1&api_key={R}&password={R}"},
    ),
    case(
        "Bearer",
        "auth was Bearer x-y.z then %s",
        "ok",
        expect={"message": f"auth was Bearer {R} then ok"},
    ),
    case("bearer, any case", "x", h=f"bearer {SECRET}", expect={"h": f"bearer {R}"}),
    case(
        "Authorization header",
        "Authorization: Basic dXNlcjpwdw==",
        expect={"message": f"Authorization: {R}"},
    ),
    case("sso_ API key", "unknown key %s", API_KEY, expect={"message": f"unknown key sso_{R}"}),
    case("sso_ key glued", "x", d=f"key={API_KEY};", expect={"d": f"key=sso_{R};"}),
    case(
        "Set-Cookie value",
        "upstream said Set-Cookie: sid=%s; HttpOnly\nthen %s",
        SECRET,
        "done",
        expect={"message": f"upstream said Set-Cookie: {R}\nthen done"},
    ),
    case(
        "Cookie in a dict repr",
        "headers %r",
        {"cookie": f"sid={SECRET}"},
        expect={"message": f"headers {{'cookie': {R}"},
    ),
    case("X-API-Key header", "X-API-Key: %s", SECRET, expect={"message": f"X-API-Key: {R}"}),
]


@pytest.mark.parametrize(("message", "args", "extra", "expected"), HOSTILE)
def test_hostile_records_are_redacted(
    logs: Capture,
    text_logs: Capture,
    message: str,
    args: tuple[Any, ...],
    extra: dict[str, Any],
    expected: dict[str, Any],
) -> None:
    logs.logger.info(message, *args, extra=dict(extra))
    entry = logs.last()
    assert {name: entry[name] for name in expected} == expected
    text_logs.logger.info(message, *args, extra=dict(extra))
    for out in (logs.text, text_logs.text):
        assert SECRET not in out and TOKEN not in out and API_KEY not in out
        assert "abc123" not in out and "x-y.z" not in out and "dXNlcjpwdw" not in out


def test_a_jwt_in_an_exception_message_and_traceback(logs: Capture) -> None:
    def fail() -> None:
        raise PermissionError(f"token {TOKEN} refused, key {API_KEY}")

    try:
        fail()
    except PermissionError:
        logs.logger.error("refused: %s", TOKEN, exc_info=True)
    entry = logs.last()
    assert entry["message"] == f"refused: {REDACTED_JWT}"
    assert entry["error"] == f"PermissionError: token {REDACTED_JWT} refused, key sso_{REDACTED}"
    assert TOKEN not in logs.text and API_KEY not in logs.text


def test_the_traceback_is_rendered_redacted_and_the_exception_dropped() -> None:
    try:
        raise ValueError(f"bad {TOKEN}")
    except ValueError as exc:
        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "boom", (), (ValueError, exc, None)
        )
    Redactor().filter(record)
    assert record.exc_info is None
    assert record.exc_text is not None and TOKEN not in record.exc_text
    assert record.exc_text.endswith(f"ValueError: bad {REDACTED_JWT}")
    # Any formatter, even the standard one, now writes only the redacted text.
    assert TOKEN not in logging.Formatter().format(record)


def test_a_dict_message_is_redacted(logs: Capture) -> None:
    logs.logger.info({"event": "login", "token": TOKEN, "note": f"Bearer {SECRET}"})
    entry = logs.last()
    assert (entry["event"], entry["token"], entry["note"]) == (
        "login",
        REDACTED,
        f"Bearer {REDACTED}",
    )


def test_uvicorn_color_message_is_dropped(logs: Capture) -> None:
    logs.logger.info("GET /?token=%s", SECRET, extra={"color_message": f"GET /?token={SECRET}"})
    assert "color_message" not in logs.last() and SECRET not in logs.text


def test_a_malformed_call_still_logs_and_never_raises(logs: Capture) -> None:
    logs.logger.info("%s and %s", TOKEN)  # one argument short
    entry = logs.last()
    assert TOKEN not in logs.text and REDACTED_JWT in entry["message"]


def test_redaction_is_idempotent() -> None:
    record = logging.makeLogRecord(
        {
            "msg": "Authorization: Bearer %s",
            "args": (TOKEN,),
            "cookie": "x",
            "u": f"?token={SECRET}",
        }
    )
    Redactor().filter(record)
    once = dict(record.__dict__)
    Redactor().filter(record)
    assert record.__dict__ == once
    assert (record.getMessage(), record.u) == (f"Authorization: {REDACTED}", f"?token={REDACTED}")


@pytest.mark.parametrize(
    "name",
    [
        "token", "access_token", "idToken", "refresh-token", "Authorization", "authorization",
        "cookie", "Cookie", "set-cookie", "Set-Cookie", "cookies", "api_key", "apikey", "apiKey",
        "x-api-key", "X-API-Key", "private_key", "privateKey", "key", "signing_key", "hmac_keys",
        "secret", "client_secret", "password", "passwd", "credential", "credentials",
    ],
)  # fmt: skip
def test_secret_names(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize(
    "name",
    [*ORDINARY, "monkey", "keyboard", "key_sha256", "spots", "error", "problem", "component"],
)
def test_ordinary_names(name: str) -> None:
    assert not is_secret_name(name)


def test_ordinary_text_takes_the_quick_path() -> None:
    for text in ("POST /tokens 200", "/authorize", "spot_sso.access", "spot_sso_tokens_issued"):
        assert redact_text(text) is text
    assert redact_value(ORDINARY) == ORDINARY


# --- configure_logging -----------------------------------------------------------------


@pytest.mark.usefixtures("root_logging")
@pytest.mark.parametrize("fmt", ["json", "text"])
def test_configure_logging_redacts_every_logger_on_stderr(
    capsys: pytest.CaptureFixture[str], fmt: LogFormat
) -> None:
    configure_logging("info", fmt)
    (handler,) = logging.getLogger().handlers
    assert any(isinstance(f, Redactor) for f in handler.filters)
    assert logging.getLogger("uvicorn.access").disabled
    assert not logging.getLogger("uvicorn.error").handlers
    logging.getLogger("uvicorn.error").info(
        "Started %s", "server", extra={"color_message": "Started \x1b[1mserver\x1b[0m"}
    )
    logging.getLogger("some.library").warning("calling %s", f"https://x/?token={TOKEN}")
    logging.getLogger("spot_sso.audit").info("token issued", extra={"token": SECRET, "sub": "u-1"})
    logging.getLogger("spot_sso").debug("not at info level")
    err = capsys.readouterr().err
    assert TOKEN not in err and SECRET not in err and "\x1b" not in err
    assert "not at info level" not in err
    lines = err.splitlines()
    assert len(lines) == 3
    if fmt == "json":
        entries = [json.loads(line) for line in lines]
        assert [e["logger"] for e in entries] == ["uvicorn.error", "some.library", "spot_sso.audit"]
        assert entries[2]["token"] == REDACTED and entries[2]["sub"] == "u-1"
    else:
        assert " info  uvicorn.error  Started server" in lines[0]
        assert lines[2].endswith(f"spot_sso.audit  token issued  token={REDACTED} sub=u-1")


@pytest.mark.usefixtures("root_logging")
def test_configure_logging_skips_caller_thread_and_process_lookups() -> None:
    configure_logging("info", "json")
    records: list[logging.LogRecord] = []
    keep = logging.Handler()
    keep.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("tests.logs.lookups")
    logger.addHandler(keep)
    try:
        logger.info("where from?")
    finally:
        logger.removeHandler(keep)
    (record,) = records
    assert (record.funcName, record.lineno, record.threadName, record.processName) == (
        "(unknown function)",
        0,
        None,
        None,
    )


@pytest.mark.usefixtures("root_logging")
def test_configure_logging_refuses_an_unknown_format() -> None:
    with pytest.raises(ValueError, match="json or text"):
        configure_logging("info", "xml")  # type: ignore[arg-type]


# --- URLs and the configuration's own credential names ------------------------------------


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("https://svc:pw@host/me?api_key=k1", "https://svc:****@host/me?api_key=****"),
        ("redis://:hunter2@redis:6379/0", "redis://:****@redis:6379/0"),
        ("https://tok3n@host/x", "https://****@host/x"),
        ("https://host/me?a=1&b=&c", "https://host/me?a=****&b=****&****"),
        ("https://host/login?next={return_to}", "https://host/login?next=****"),
        ("https://h/p?x=1#frag", "https://h/p?x=****#frag"),
        ("https://host/plain", "https://host/plain"),
        ("http://[::1]:80/a?x=1", "http://[::1]:80/a?x=****"),
        ("http://[bad/x?y=1", "http://[bad/x?y=1"),  # not a URL: left as it is
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked
    assert mask_url(masked) == masked


def test_urls_inside_any_text_are_masked(logs: Capture) -> None:
    logs.logger.warning(
        "calling https://svc:%s@host.example/me?api_key=%s failed",
        SECRET,
        SECRET,
        extra={"target": f"redis://:{SECRET}@redis:6379/0", "plain": "see https://host/docs"},
    )
    line = logs.last()
    assert SECRET not in logs.text
    assert line["message"] == "calling https://svc:****@host.example/me?api_key=**** failed"
    assert line["target"] == "redis://:****@redis:6379/0"
    assert line["plain"] == "see https://host/docs"


def test_the_configured_credential_names_are_masked_everywhere() -> None:
    stream = io.StringIO()
    handler = make_handler("json", stream, secret_names=["X-Host-Token", "x-session", "sid"])
    logger = logging.getLogger("tests.logs.named")
    logger.handlers[:] = [handler]
    logger.propagate = False
    try:
        logger.warning(
            "host said no: X-Host-Token: %s; headers {'x-session': '%s'}; cookie sid=%s; x=1",
            SECRET,
            SECRET,
            SECRET,
            extra={"x-session": SECRET, "details": {"SID": SECRET, "other": "kept"}},
        )
        logger.warning("sidecar=kept and insider: kept")
    finally:
        logger.handlers[:] = []
        logger.propagate = True
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert SECRET not in stream.getvalue()
    assert first["x-session"] == REDACTED and first["details"] == {"SID": REDACTED, "other": "kept"}
    assert "X-Host-Token: [redacted]" in first["message"] and "sid=[redacted]" in first["message"]
    assert second["message"] == "sidecar=kept and insider: kept"


def test_settings_name_their_credential_headers_and_cookies() -> None:
    data = settings_data(
        identity={
            "adapter": "http",
            "http": {
                "session_url": "https://h/me",
                "forward_cookies": ["sid"],
                "forward_headers": ["X-Session"],
                "auth_header": "X-Host-Token",
            },
        }
    )
    names = Settings.model_validate(data).credential_names()
    assert names == ["X-Host-Token", "x-session", "sid"]
