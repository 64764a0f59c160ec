"""``server.tune_gc``: the serving process's collector settings."""

from __future__ import annotations

import gc

from hearth import server


def test_tune_gc_raises_the_young_threshold_and_freezes_start_up_objects() -> None:
    before = gc.get_threshold()
    try:
        server.tune_gc()
        assert gc.get_threshold() == (server.GC_YOUNG_THRESHOLD, before[1], before[2])
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
