"""Group commit: calls that arrive while a batch runs go together in the next one."""

from __future__ import annotations

import asyncio

import pytest

from service.ledger.batches import Batches
from service.ledger.records import SignIn, merged


class Recorder:
    """A batch runner that holds each batch until released, and keeps what it got."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.release = asyncio.Event()
        self.fail: Exception | None = None

    async def run(self, items: list[int]) -> list[int]:
        self.batches.append(items)
        await self.release.wait()
        if self.fail is not None:
            raise self.fail
        return [item * 10 for item in items]


async def test_a_call_alone_runs_at_once_and_gets_its_own_answer() -> None:
    recorder = Recorder()
    recorder.release.set()
    batches = Batches(recorder.run)
    assert await batches.call(1) == 10
    assert await batches.call(2) == 20
    assert recorder.batches == [[1], [2]]


async def test_calls_made_while_a_batch_runs_go_together_in_the_next() -> None:
    recorder = Recorder()
    batches = Batches(recorder.run, limit=3)
    first = asyncio.ensure_future(batches.call(1))
    await asyncio.sleep(0)
    later = [asyncio.ensure_future(batches.call(n)) for n in range(2, 7)]
    await asyncio.sleep(0)
    recorder.release.set()
    assert await asyncio.gather(first, *later) == [10, 20, 30, 40, 50, 60]
    assert recorder.batches == [[1], [2, 3, 4], [5, 6]]


async def test_a_failed_batch_fails_each_of_its_calls_and_not_the_next() -> None:
    recorder = Recorder()
    recorder.fail = RuntimeError("database gone")
    batches = Batches(recorder.run)
    calls = [asyncio.ensure_future(batches.call(n)) for n in (1, 2)]
    await asyncio.sleep(0)
    recorder.release.set()
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert [str(result) for result in results] == ["database gone", "database gone"]
    recorder.fail = None
    assert await batches.call(3) == 30


async def test_a_caller_that_stopped_waiting_is_left_out_of_later_batches() -> None:
    recorder = Recorder()
    batches = Batches(recorder.run)
    running = asyncio.ensure_future(batches.call(1))
    await asyncio.sleep(0)
    await asyncio.sleep(0)  # the first batch has started: [1]
    assert recorder.batches == [[1]]
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):
            await batches.call(2)
    waiting = asyncio.ensure_future(batches.call(3))
    await asyncio.sleep(0)
    recorder.release.set()
    assert await asyncio.gather(running, waiting) == [10, 30]
    assert recorder.batches == [[1], [3]]


async def test_aclose_lets_the_batches_under_way_finish() -> None:
    recorder = Recorder()
    batches = Batches(recorder.run)
    call = asyncio.ensure_future(batches.call(1))
    await asyncio.sleep(0)
    closing = asyncio.ensure_future(batches.aclose())
    await asyncio.sleep(0.01)
    assert not closing.done()
    recorder.release.set()
    await closing
    assert call.result() == 10


def test_merged_sign_ins_keep_the_newest_values_the_first_time_and_the_count() -> None:
    spot = "129487c9-6acc-43d9-ab96-182ded763538"
    rows = merged(
        [
            SignIn(spot, "u-ada", "ada@old.example", "ada@old.example", 200, ["a"]),
            SignIn(spot, "u-bob", "bob@example.com", "bob@example.com", 150),
            SignIn(spot, "u-ada", "ada@new.example", "ada@new.example", 100, ["b"]),
        ]
    )
    assert [(r["sub"], r["email"], r["first_seen"], r["last_seen"], r["logins"]) for r in rows] == [
        ("u-ada", "ada@new.example", 100, 200, 2),
        ("u-bob", "bob@example.com", 150, 150, 1),
    ]
    assert rows[0]["groups_join"] == ["b"]
