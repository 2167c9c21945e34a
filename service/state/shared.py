"""Shared state: in this process's memory by default, in Redis when ``redis_url`` is set.

Two things live here: rate-limit counters and the identity adapter's profile cache. With
Redis, several replicas agree on both. Redis failing never stops the service: limits
fail open (requests pass), the cache is bypassed, the error is counted, logged at most
once a minute, and shown in ``/readyz`` details.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Generic, Protocol, TypeVar

import redis.asyncio as aioredis
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from pydantic import SecretStr

from service.observability.metrics import Metrics
from service.state.ttlcache import TTLCache

log = logging.getLogger("spot_sso.state")

REDIS_TIMEOUT_SECONDS: Final = 0.25
LOG_EVERY_SECONDS: Final = 60.0
KEY_PREFIX: Final = "spot-sso"


V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class Codec(Generic[V]):
    """How a cached value is written to Redis and read back (the memory cache keeps the
    value itself: nothing is encoded, or parsed again, on a hit)."""

    dump: Callable[[V], str]
    load: Callable[[str], V]


class Cache(Protocol[V]):
    """A cache with a time to live; misses and failures both answer None."""

    async def get(self, key: str) -> V | None: ...

    async def put(self, key: str, value: V) -> None: ...

    async def take(self, key: str) -> V | None:
        """The value, removed: a second ``take`` of the same key answers None."""
        ...


class SharedState:
    """Redis when configured, else memory; every Redis failure degrades, never fails."""

    def __init__(self, redis_url: SecretStr | None, metrics: Metrics) -> None:
        self._metrics = metrics
        self._last_logged: dict[str, float] = {}
        self.last_error: str | None = None
        self.redis: aioredis.Redis | None = None
        if redis_url is None:
            self.storage: Storage = MemoryStorage()
            return
        self.redis = aioredis.Redis.from_url(
            redis_url.get_secret_value(),
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            retry_on_timeout=False,
            health_check_interval=30,
        )
        self.storage = RedisStorage(
            "async+redis://",
            implementation="redispy",
            wrap_exceptions=True,
            key_prefix=f"{KEY_PREFIX}:limits",
            connection_pool=self.redis.connection_pool,  # type: ignore[arg-type]  # passed on to redis-py
        )

    @property
    def backend(self) -> str:
        return "memory" if self.redis is None else "redis"

    def cache(self, namespace: str, ttl: float, codec: Codec[V]) -> Cache[V]:
        """A cache for ``namespace`` whose entries live ``ttl`` seconds (0: no cache)."""
        if self.redis is None or ttl <= 0:
            return MemoryCache(ttl)
        return RedisCache(self, namespace, ttl, codec)

    def failed(self, component: str, exc: BaseException) -> None:
        """Count a Redis failure; log it at most once a minute per component."""
        self._metrics.redis_errors.labels(component).inc()
        self.last_error = f"{component}: {type(exc).__name__}: {exc}"[:300]
        now = time.monotonic()
        if now - self._last_logged.get(component, -LOG_EVERY_SECONDS) >= LOG_EVERY_SECONDS:
            self._last_logged[component] = now
            log.warning(
                "redis unavailable, %s degraded (fail open)",
                component,
                extra={"component": component, "error": self.last_error},
            )

    def unreadable(self, component: str) -> None:
        """Count a value Redis holds that this version cannot read (another version's
        format, or damaged); logged at most once a minute, without its content."""
        self._metrics.redis_errors.labels(component).inc()
        now, key = time.monotonic(), f"{component}:unreadable"
        if now - self._last_logged.get(key, -LOG_EVERY_SECONDS) >= LOG_EVERY_SECONDS:
            self._last_logged[key] = now
            log.warning(
                "a cached value in redis could not be read back: treated as a miss",
                extra={"component": component},
            )

    def recovered(self) -> None:
        self.last_error = None

    async def ready(self) -> dict[str, Any]:
        """Details for ``/readyz``: the backend, and whether Redis answers a PING."""
        if self.redis is None:
            return {"ok": True, "backend": "memory"}
        try:
            await self.redis.ping()
        except Exception as exc:  # any Redis or socket failure: report, don't raise
            self.failed("readyz", exc)
            return {"ok": False, "backend": "redis", "fail_open": True, "error": self.last_error}
        self.recovered()
        return {"ok": True, "backend": "redis"}

    async def aclose(self) -> None:
        if self.redis is not None:
            await self.redis.aclose(close_connection_pool=True)


class MemoryCache(Generic[V]):
    """The per-process cache, for one replica or when Redis is not configured. It keeps
    the values themselves, so they must not be changed once put (profiles are frozen)."""

    def __init__(self, ttl: float) -> None:
        self._entries: TTLCache[V] = TTLCache(ttl)

    async def get(self, key: str) -> V | None:
        return self._entries.get(key)

    async def put(self, key: str, value: V) -> None:
        self._entries.put(key, value)

    async def take(self, key: str) -> V | None:
        return self._entries.take(key)


class RedisCache(Generic[V]):
    """The cache in Redis, shared by every replica; keys are hashed, values expire. A
    value that cannot be read back (another version's format) is a miss, counted."""

    def __init__(self, state: SharedState, namespace: str, ttl: float, codec: Codec[V]) -> None:
        assert state.redis is not None
        self._state = state
        self._redis = state.redis
        self._codec = codec
        self._prefix = f"{KEY_PREFIX}:cache:{namespace}:"
        self._ttl_ms = max(1, int(ttl * 1000))

    def _key(self, key: str) -> str:
        return self._prefix + hashlib.sha256(key.encode()).hexdigest()

    async def get(self, key: str) -> V | None:
        try:
            value = await self._redis.get(self._key(key))
        except Exception as exc:  # Redis down or slow: a miss, counted
            self._state.failed("cache", exc)
            return None
        return self._decode(value)

    def _decode(self, value: Any) -> V | None:
        if value is None:
            return None
        try:
            return self._codec.load(value.decode() if isinstance(value, bytes) else value)
        except ValueError:  # not a value this version wrote: a miss, counted
            self._state.unreadable("cache")
            return None

    async def take(self, key: str) -> V | None:
        try:
            value = await self._redis.getdel(self._key(key))  # one use, on every replica
        except Exception as exc:  # Redis down or slow: nothing to take, counted
            self._state.failed("cache", exc)
            return None
        return self._decode(value)

    async def put(self, key: str, value: V) -> None:
        try:
            await self._redis.set(self._key(key), self._codec.dump(value), px=self._ttl_ms)
        except Exception as exc:  # Redis down or slow: not cached, counted
            self._state.failed("cache", exc)
