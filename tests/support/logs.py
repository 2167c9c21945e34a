"""The session's log capture: every record, redacted and formatted as in production."""

from __future__ import annotations

import logging

import jwt

from service.observability.logs import JsonFormatter, Redactor

# A token, as the service would sign one: no log line may ever show it.
TOKEN = jwt.encode(
    {"sub": "u-1", "exp": 2_000_000_000}, "a-key-for-the-log-tests-0123456789abcdef", "HS256"
)


class LogCapture(logging.Handler):
    """Every log record of the session, redacted and formatted as in production."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.addFilter(Redactor())
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []
        self.failures: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception as exc:
            self.failures.append(f"{record.name}: {exc!r}")
