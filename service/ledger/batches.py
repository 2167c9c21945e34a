"""Group commit: the calls that arrive while a batch runs go together in the next one.

A call alone runs at once; under load, one statement and one transaction serve every
sign-in that waited for the last one, so the database's fixed cost per statement (a
round trip, a thread hop, a commit) is paid once per batch instead of once per sign-in.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Final, Generic, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")

MAX_BATCH: Final = 256


class Batches(Generic[In, Out]):
    """Runs ``run`` on lists of the items given to ``call``; ``run`` answers one result
    per item, in order. An exception fails every call of its batch. A caller that stops
    waiting (a deadline) leaves its item out of the batches not yet started."""

    def __init__(
        self,
        run: Callable[[list[In]], Awaitable[Sequence[Out]]],
        *,
        limit: int = MAX_BATCH,
        deadline: float | None = None,
    ) -> None:
        self._run = run
        self._limit = limit
        self._deadline = deadline  # for each batch (a TimeoutError fails its calls)
        self._waiting: list[tuple[In, asyncio.Future[Out]]] = []
        self._worker: asyncio.Task[None] | None = None

    async def call(self, item: In) -> Out:
        future: asyncio.Future[Out] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._worker is None:
            self._worker = asyncio.create_task(self._work(), name="ledger-batches")
        return await future

    async def _work(self) -> None:
        try:
            while self._waiting:
                batch = [(item, f) for item, f in self._waiting[: self._limit] if not f.done()]
                del self._waiting[: self._limit]
                if batch:
                    await self._one([item for item, _ in batch], [f for _, f in batch])
        finally:
            self._worker = None

    async def _one(self, items: list[In], futures: list[asyncio.Future[Out]]) -> None:
        try:
            async with asyncio.timeout(self._deadline):
                results = await self._run(items)
        except Exception as exc:  # every caller of the batch gets it
            for future in futures:
                if not future.done():
                    future.set_exception(exc)
            return
        except asyncio.CancelledError:
            for future in futures:
                future.cancel()
            raise
        for future, result in zip(futures, results, strict=True):
            if not future.done():
                future.set_result(result)

    async def aclose(self) -> None:
        """Let the batch running (and those waiting) finish."""
        if self._worker is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.shield(self._worker)
