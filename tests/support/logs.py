"""The session's log capture: every line, redacted and rendered as in production."""

from __future__ import annotations

import logging
import sys

import jwt

from service.observability.logs import make_handler

# A token, as the service would sign one: no log line may ever show it.
TOKEN = jwt.encode(
    {"sub": "u-1", "exp": 2_000_000_000}, "a-key-for-the-log-tests-0123456789abcdef", "HS256"
)


class LogCapture:
    """A text stream keeping every line written to it: the service's structlog events
    (``configure_events``) and, through ``handler``, every stdlib record of the session."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.failures: list[str] = []
        self._partial = ""
        self.handler: logging.Handler = make_handler("json", self)
        self.handler.setLevel(logging.DEBUG)
        self.handler.handleError = self._failed  # type: ignore[method-assign]

    def _failed(self, record: logging.LogRecord) -> None:
        """A record the production handler could not write (stdlib prints and drops it)."""
        self.failures.append(f"{record.name}: {sys.exc_info()[1]!r}")

    def write(self, text: str) -> int:
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        self.lines.extend(lines)
        return len(text)

    def flush(self) -> None:
        pass
