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
from service.observability import Metrics
from service.state import SharedState

FAILED_AUTH: Final = "failed_auth"


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

    async def hit(self, name: str, key: str, rule: str) -> None:
        """Count one request for ``key`` under limit ``name``; 429 when over ``rule``."""
        if not self._enabled:
            return
        item = limit(rule)
        try:
            allowed = await self._strategy.hit(item, name, key)
            wait = 0 if allowed else await self._retry_after(item, name, key)
        except Exception as exc:  # counters unreachable: fail open, counted
            self._state.failed("ratelimit", exc)
            return
        if not allowed:
            self._refuse(name, rule, wait)

    async def check(self, name: str, key: str, rule: str) -> None:
        """429 if ``key`` is already over ``rule``, without counting this request."""
        if not self._enabled:
            return
        item = limit(rule)
        try:
            allowed = await self._strategy.test(item, name, key)
            wait = 0 if allowed else await self._retry_after(item, name, key)
        except Exception as exc:  # counters unreachable: fail open, counted
            self._state.failed("ratelimit", exc)
            return
        if not allowed:
            self._refuse(name, rule, wait)

    async def _retry_after(self, item: RateLimitItem, name: str, key: str) -> int:
        stats = await self._strategy.get_window_stats(item, name, key)
        return max(1, math.ceil(stats.reset_time - time.time()))

    def _refuse(self, name: str, rule: str, wait: int) -> None:
        self._metrics.rate_limited.labels(name).inc()
        raise TooManyRequests(
            f"Too many requests: the limit is {rule}. Try again in {wait} s.", retry_after=wait
        )
