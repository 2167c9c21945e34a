"""A server's worker puts its start-up heap out of the garbage collector's sight, and
collects young objects less often."""

from __future__ import annotations

import gc

from service.web.app import GC_YOUNG_THRESHOLD, create_app
from tests.support.apps import lifespan_client
from tests.support.settings import make_settings


async def test_a_worker_freezes_its_heap_and_spaces_its_collections_an_app_in_a_test_not() -> None:
    gc.unfreeze()
    thresholds = gc.get_threshold()
    try:
        async with lifespan_client(create_app(make_settings())) as http:
            assert (await http.get("/healthz")).status_code == 200
            assert gc.get_freeze_count() == 0 and gc.get_threshold() == thresholds
        async with lifespan_client(create_app(make_settings(), freeze_heap=True)) as http:
            assert (await http.get("/healthz")).status_code == 200
            # Everything the app built is there: the runtime and its settings among them.
            assert gc.get_freeze_count() > 10_000
            assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, *thresholds[1:])
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
