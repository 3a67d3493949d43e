"""Garbage collection settled after start-up (collab/heap.py, called by collab/warm_up.py)."""

import json
import subprocess
import sys

import pytest
from django.conf import settings

from collab import heap, warm_up

PROBE = (
    "import gc, json, sys; from collab import heap; "
    "before = gc.get_threshold(); heap.settle(int(sys.argv[1])); "
    "print(json.dumps([gc.get_freeze_count(), before, gc.get_threshold()]))"
)


def _settle_in_fresh_interpreter(oldest_threshold: int):
    # A process of its own: freezing the test worker's heap would outlive this test.
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(oldest_threshold)],
        capture_output=True,
        text=True,
        check=True,
        cwd=settings.BASE_DIR,
    )
    return json.loads(result.stdout)


def test_settle_freezes_what_exists_and_collects_the_oldest_generation_less_often():
    frozen, before, after = _settle_in_fresh_interpreter(1000)
    assert frozen > 1000  # the interpreter's and the imported modules' objects
    assert after == [before[0], before[1], 1000]


def test_zero_leaves_the_collector_alone():
    frozen, before, after = _settle_in_fresh_interpreter(0)
    assert frozen == 0
    assert after == before


@pytest.mark.django_db(transaction=True)
async def test_warm_up_settles_the_heap_last(monkeypatch, settings):
    settings.COLLAB = {**settings.COLLAB, "GC_OLDEST_THRESHOLD": 321}
    calls = []
    monkeypatch.setattr(heap, "settle", calls.append)
    await warm_up.warm_up()
    assert calls == [321]
