"""The workloads' own bookkeeping, without servers."""

import threading
import time

from bench import workloads


def test_w6_stops_watching_once_the_clients_are_gone_and_the_log_stops_growing():
    """A typist cut off mid-trace never sends the rest: W6 must not wait out its timeout."""

    class Live:
        calls = 0

        def api(self, method, path, token):
            Live.calls += 1
            return 200, {"last_seq": min(Live.calls, 5)}

    class Server:
        live, token = Live(), "t"

    clients_done, out = threading.Event(), {}
    clients_done.set()
    started = time.monotonic()
    workloads._watch_stored(Server(), "room", 100, 600, out, clients_done, stall=0.3)
    assert time.monotonic() - started < 30
    assert out == {} and Live.calls > 5  # it watched the log grow to 5, then gave up
