"""Garbage collection for a long-running socket server: no full collection in the middle of a
relay, and none that walks the modules and settings loaded at start."""

import gc


def settle(oldest_threshold: int) -> None:
    """After start-up: move what exists now out of the collector's sight, and collect the
    oldest generation less often.

    Measured under the many-rooms benchmark (docs/benchmarks.md): every few seconds a full
    collection walked the whole heap for 25-65 ms while every socket of the process waited,
    which was most of the p99 latency. What start-up created (Django, the URL and template
    machinery, the apps) lives as long as the process; frozen, later collections skip it.
    Younger generations keep their thresholds, so short-lived cycles are still freed
    promptly; only the full collection of long-lived objects waits longer (cyclic garbage
    that survived two collections is rare, and is still freed).
    ``oldest_threshold`` 0 leaves the collector as Python set it.
    """
    if oldest_threshold <= 0:
        return
    gc.collect()
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, oldest_threshold)
