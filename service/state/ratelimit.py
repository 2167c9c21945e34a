"""Rate limits, counted by the ``limits`` library in the shared state (memory or Redis).

Three limits: ``POST /tokens`` per API client, ``GET /authorize`` per client IP (and
Spot), and failed API-key attempts per client IP. Over a limit, ``TooManyRequests``
carries the seconds to wait. When the counters cannot be reached, requests pass.
"""

from __future__ import annotations

import math
import time
from functools import lru_cache
from typing import Final

from limits import RateLimitItem, parse
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from service.errors import TooManyRequests
from service.observability.metrics import Metrics
from service.state.shared import SharedState

FAILED_AUTH: Final = "failed_auth"
MAX_BLOCKED: Final = 10_000


@lru_cache(maxsize=64)
def limit(text: str) -> RateLimitItem:
    """``"600/minute"`` as a limit (parsed once)."""
    return parse(text)


class RateLimiter:
    """Counts hits against named limits; fails open when the counters are unreachable."""

    def __init__(self, state: SharedState, metrics: Metrics, *, enabled: bool = True) -> None:
        self._state = state
        self._metrics = metrics
        self._enabled = enabled
        self._strategy = SlidingWindowCounterRateLimiter(state.storage)
        # Keys known to be over a limit, until when (monotonic): ``check`` reads this
        # instead of the counters, so a request costs one counter operation, not two.
        self._blocked: dict[tuple[str, str], float] = {}

    async def hit(self, name: str, key: str, rule: str, *, block_when_full: bool = False) -> None:
        """Count one request for ``key`` under limit ``name``; 429 when over ``rule``.

        ``block_when_full``: when this request used the last one the window allows, later
        checks of ``key`` refuse until the window moves on (for failed attempts).
        """
        if not self._enabled:
            return
        item = limit(rule)
        try:
            allowed = await self._strategy.hit(item, name, key)
            stats = (
                await self._strategy.get_window_stats(item, name, key)
                if (not allowed or block_when_full)
                else None
            )
        except Exception as exc:  # counters unreachable: fail open, counted
            self._state.failed("ratelimit", exc)
            return
        if stats is None:
            return
        wait = max(1, math.ceil(stats.reset_time - time.time()))
        if not allowed or stats.remaining <= 0:
            self._block(name, key, wait)
        if not allowed:
            self._refuse(name, rule, wait)

    def check(self, name: str, key: str, rule: str) -> None:
        """429 if a ``hit`` in this process found ``key`` over ``rule`` and the wait it
        announced is not over; no counter operation.

        With Redis the count itself is shared: the first failed attempt a replica sees
        past the limit blocks the key on that replica too.
        """
        until = self._blocked.get((name, key))
        if until is None:
            return
        wait = until - time.monotonic()
        if wait <= 0:
            del self._blocked[(name, key)]
            return
        self._refuse(name, rule, math.ceil(wait))

    def _block(self, name: str, key: str, wait: int) -> None:
        now = time.monotonic()
        if len(self._blocked) >= MAX_BLOCKED:
            self._blocked = {k: t for k, t in self._blocked.items() if t > now}
        self._blocked[(name, key)] = now + wait

    def _refuse(self, name: str, rule: str, wait: int) -> None:
        self._metrics.rate_limited.labels(name).inc()
        raise TooManyRequests(
            f"Too many requests: the limit is {rule}. Try again in {wait} s.", retry_after=wait
        )
