"""In-process micro-benchmark of the token path, in tokens per CPU-second (one core).

Each case runs single-threaded for a fixed time, best of ``repeats``; the rate is
iterations per second of this process's CPU time (so other load on the machine slows
the wall clock, not the figure). ``python bench/micro.py`` prints the table alone.

The token path only: the member ledger is off here (a database round trip is no
micro-benchmark); ``bench/budget.py`` and ``bench/run.py``'s ``ledger-*`` scenarios
measure it. ``Runtime.issue`` is a coroutine: without the ledger it never waits, and
runs to its end in one step, with no event loop (``_completed``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.fixtures import SPOT_ALIAS, SPOT_ID, SPOT_RULES, USERS, Secrets, user_body

TARGET_TOKENS_PER_SECOND = 10_000
T = TypeVar("T")


@dataclass
class MicroRow:
    name: str
    what: str
    per_second: float  # per CPU-second
    us_per_op: float
    target: str = ""
    met: bool | None = None


def _measure(fn: Callable[[], object], seconds: float, repeats: int) -> float:
    """Best rate (calls per CPU-second) over ``repeats`` runs of about ``seconds``."""
    n = 1
    while True:  # calibrate: enough calls for about a tenth of the run
        start = time.process_time()
        for _ in range(n):
            fn()
        elapsed = time.process_time() - start
        if elapsed >= min(0.05, seconds / 4):
            break
        n *= 2
    per_run = max(1, int(n * seconds / max(elapsed, 1e-9)))
    best = 0.0
    for _ in range(repeats):
        start = time.process_time()
        for _ in range(per_run):
            fn()
        elapsed = time.process_time() - start
        best = max(best, per_run / elapsed if elapsed else 0.0)
    return best


def _completed(coroutine: Coroutine[Any, Any, T]) -> T:
    """What ``coroutine`` returns, run in one step: it must not wait for anything."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coroutine.close()
    raise RuntimeError("the coroutine waited: micro-benchmarks run without I/O")


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def cases() -> list[tuple[str, str, Callable[[], object], str]]:
    """(name, what it does, the call, target) for every case, built on a bench Runtime."""
    from jose import jwk, jws
    from pydantic import SecretStr

    from service.contract.claims import Member, SpotClaims
    from service.contract.membership import settle
    from service.contract.signing import TokenIssuer, now
    from service.identity.base import UserProfile
    from service.observability.logs import configure_logging
    from service.runtime.runtime import Runtime, audit_log
    from service.settings.model import Settings
    from service.web.routes.tokens import TokenRequest, TokenResponse

    sec = Secrets()
    # The production logging (JSON, redacted), writing to /dev/null, at info, as the
    # server sets it up.
    devnull = open(os.devnull, "w")  # noqa: SIM115 - kept open for the process's life
    configure_logging("info", "json", stream=devnull)

    settings = Settings.model_validate(
        {
            "spots": {SPOT_ALIAS: {"id": SPOT_ID, "private_key": sec.spot_key, **SPOT_RULES}},
            "identity": {"adapter": "static", "static": {"users": USERS}},
            "ledger": {"enabled": False},
        }
    )
    runtime = Runtime(settings)
    spot = settings.spots[SPOT_ALIAS]
    issuer = TokenIssuer(SecretStr(sec.spot_key))
    body = user_body(0)
    wire_user: dict[str, Any] = json.loads(body)["user"]
    member = Member.model_validate(wire_user)
    claims = SpotClaims.for_member(member, issued_at=now(), ttl_seconds=60)
    payload = claims.model_dump_json(by_alias=True, exclude_none=True).encode()
    prepared_key = jwk.construct(sec.spot_key, "HS256")
    key_bytes = sec.spot_key.encode()
    header = _b64(b'{"alg":"HS256","typ":"JWT"}')
    profile = UserProfile.model_validate(USERS[1])

    def token_path() -> str:
        m = Member.model_validate(wire_user)
        c = SpotClaims.for_member(m, issued_at=now(), ttl_seconds=60)
        return issuer.sign(c)

    def jose_prepared() -> str:
        return jws.sign(payload, prepared_key, algorithm="HS256")

    def jose_str_key() -> str:
        return jws.sign(payload, sec.spot_key, algorithm="HS256")

    def hand_rolled() -> bytes:
        signing_input = header + b"." + _b64(payload)
        signature = hmac.new(key_bytes, signing_input, hashlib.sha256).digest()
        return signing_input + b"." + _b64(signature)

    def runtime_issue() -> object:
        return _completed(runtime.issue(SPOT_ALIAS, member, flow="tokens", client="bench"))

    def tokens_body() -> str:
        request = TokenRequest.model_validate_json(body)
        m, made = settle(None, request.user, spot, SPOT_ALIAS)
        issued = _completed(runtime.issue(SPOT_ALIAS, m, flow="tokens", made=made, client="bench"))
        return TokenResponse.of(issued).model_dump_json(by_alias=True)

    def user_id_profile() -> object:
        m, made = settle(profile, None, spot, SPOT_ALIAS)
        return _completed(runtime.issue(SPOT_ALIAS, m, flow="tokens", made=made, client="bench"))

    from email_validator import validate_email

    target = f">= {TARGET_TOKENS_PER_SECOND:,}/s"
    return [
        (
            "token path",
            "Member.model_validate + SpotClaims.for_member + TokenIssuer.sign",
            token_path,
            target,
        ),
        ("python-jose, prepared key", "jws.sign(payload, jwk key, HS256)", jose_prepared, ""),
        ("python-jose, key as str", "jws.sign(payload, key string, HS256)", jose_str_key, ""),
        ("hand-rolled HS256", "base64url + hmac.new(sha256), same payload", hand_rolled, ""),
        (
            "Runtime.issue",
            "claims + sign + metrics + its own audit line (as `mint`; JSON, redacted, to /dev/null); ledger off",
            runtime_issue,
            "",
        ),
        (
            "POST /tokens body, in process",
            "TokenRequest JSON + settle + Runtime.issue + TokenResponse JSON",
            tokens_body,
            "",
        ),
        (
            "userId profile, in process",
            "settle (access, groups, properties rules) + Runtime.issue",
            user_id_profile,
            "",
        ),
        (
            "  part: Member.model_validate",
            "the user claims (email check included)",
            lambda: Member.model_validate(wire_user),
            "",
        ),
        (
            "  part: SpotClaims.for_member",
            "lang/timezone settled, every claim re-checked",
            lambda: SpotClaims.for_member(member, issued_at=now(), ttl_seconds=60),
            "",
        ),
        (
            "  part: claims JSON",
            "SpotClaims.model_dump_json(by_alias, exclude_none)",
            lambda: claims.model_dump_json(by_alias=True, exclude_none=True),
            "",
        ),
        (
            "  part: validate_email",
            "email_validator, check_deliverability=False",
            lambda: validate_email(wire_user["email"], check_deliverability=False),
            "",
        ),
        (
            "  part: audit log line",
            "a structlog line with the audit fields: core fields, redaction, orjson",
            lambda: audit_log.info(
                "token issued",
                _event="token_issued",
                spot=SPOT_ALIAS,
                sub="u-0",
                flow="tokens",
                client="bench",
                ttl_seconds=60,
                exp=0,
                rules=[],
                made=[],
            ),
            "",
        ),
    ]


def run_micro(seconds: float = 1.0, repeats: int = 3) -> list[MicroRow]:
    rows = []
    for name, what, fn, target in cases():
        rate = _measure(fn, seconds, repeats)
        met = rate >= TARGET_TOKENS_PER_SECOND if target else None
        rows.append(MicroRow(name, what, rate, 1e6 / rate if rate else float("inf"), target, met))
    return rows


def micro_table(rows: list[MicroRow]) -> str:
    lines = [
        "| case | what | per second (one core) | µs per op | target | met? |",
        "|---|---|---:|---:|---|---|",
    ]
    for r in rows:
        met = "" if r.met is None else ("yes" if r.met else "**NO**")
        lines.append(
            f"| {r.name} | {r.what} | {r.per_second:,.0f} | {r.us_per_op:.1f} | {r.target} | {met} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    print(micro_table(run_micro(0.2 if quick else 1.0, 1 if quick else 3)))
