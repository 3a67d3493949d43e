"""Load generator: many y-websocket clients (pycrdt + websockets) per process, several processes.

Typists make real Yjs updates with pycrdt. Each keystroke inserts a stamp, the sender's wall
clock in microseconds ("<us>,"), at the end of the shared text; readers apply every update
to their own pycrdt Doc and read the stamps back from the Text's change events, so a
latency is keystroke (made) to peer (applied). Wall clocks are the same machine's.
"""

import asyncio
import multiprocessing
import os
import random
import statistics
import time
from dataclasses import dataclass, field

import websockets
from pycrdt import Awareness, Doc, Text

from collab import protocol

STAMP_MOD = 10**10  # microseconds; the stamp wraps every ~2.7 h, fine for a run's latencies
TEXT_NAME = "bench"


def now_us() -> int:
    return time.time_ns() // 1000


@dataclass
class ClientSpec:
    """One connection: `url`; types `rate` keys/s when rate > 0; reads (measures) if `reads`."""

    url: str
    rate: float = 0.0
    reads: bool = True
    handshake: bool = True  # y-websocket sync; raw relays answer nothing
    updates: list | None = None  # pre-made updates to send as fast as accepted (trace replay)
    done_state: bytes | None = None  # a reader is done when its state vector equals this
    insert_chars: int = 0  # one update of this many characters on connect (memory workload)


@dataclass
class ClientResult:
    latencies_ms: list = field(default_factory=list)
    sent: int = 0
    received_updates: int = 0
    stamps_received: int = 0
    lag_ms: list = field(default_factory=list)  # how late the typist's own schedule ran
    connect_ms: float | None = None
    synced_at: float | None = None
    sent_all_at: float | None = None
    first_sent_at: float | None = None
    done_at: float | None = None
    text: str | None = None
    error: str | None = None


class BenchClient:
    """One y-websocket client on the worker's event loop."""

    def __init__(self, spec: ClientSpec):
        self.spec = spec
        self.doc = Doc(client_id=random.getrandbits(52))
        self.text = self.doc.get(TEXT_NAME, type=Text)
        self.result = ClientResult()
        self.synced = asyncio.Event()
        self.done = asyncio.Event()
        self.ended = asyncio.Event()  # its socket closed, or reading failed
        self._editing = False
        self.ws = None
        if spec.reads:
            self.text.observe(self._on_change)

    def _on_change(self, event) -> None:
        if self._editing:
            return
        received = now_us()
        for delta in event.delta:
            inserted = delta.get("insert")
            if isinstance(inserted, str) and "," in inserted:
                for stamp in inserted.split(",")[:-1]:
                    if stamp.isdigit():
                        self.result.latencies_ms.append(
                            ((received - int(stamp)) % STAMP_MOD) / 1000
                        )
                        self.result.stamps_received += 1

    async def connect(self) -> None:
        started = time.perf_counter()
        self.ws = await websockets.connect(
            self.spec.url,
            max_size=None,
            compression=None,
            open_timeout=60,
            ping_interval=None,
            close_timeout=2,
        )
        self.result.connect_ms = (time.perf_counter() - started) * 1000
        asyncio.get_running_loop().create_task(self._read())
        if self.spec.handshake:
            # As a stock y-websocket client does on open: sync step 1, then its awareness
            # state ({} until the app sets one), which introduces its client id.
            await self.ws.send(protocol.sync_step1_message(self.doc))
            presence = Awareness(self.doc).encode_awareness_update([self.doc.client_id])
            await self.ws.send(protocol.awareness_message(presence))
        else:
            self.synced.set()
        await self.synced.wait()
        self.result.synced_at = time.time()
        if self.spec.insert_chars:
            await self.send_edit("x" * self.spec.insert_chars)

    async def _read(self) -> None:
        try:
            async for frame in self.ws:
                message = protocol.parse_message(frame)
                match message:
                    case protocol.SyncStep1(state_vector) if self.spec.handshake:
                        reply = self.doc.get_update(state_vector)
                        await self.ws.send(protocol.sync_step2_message(reply))
                    case protocol.SyncStep2(update):
                        self.doc.apply_update(update)
                        self.synced.set()
                    case protocol.SyncUpdate(update):
                        self.doc.apply_update(update)
                        self.result.received_updates += 1
                self._check_done()
        except websockets.ConnectionClosed as exc:
            if not self.done.is_set() and exc.rcvd and exc.rcvd.code != 1000:
                self.result.error = f"closed {exc.rcvd.code} {exc.rcvd.reason}"
        except Exception as exc:  # a bad frame must not stop the other clients of this worker
            self.result.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.ended.set()

    def _check_done(self) -> None:
        if self.spec.done_state is not None and not self.done.is_set():
            if self.doc.get_state() == self.spec.done_state:
                self.result.done_at = time.time()
                self.done.set()

    async def send_edit(self, inserted: str) -> None:
        self._editing = True
        try:
            before = self.doc.get_state()
            self.text.insert(len(self.text), inserted)
            update = self.doc.get_update(before)
        finally:
            self._editing = False
        await self.ws.send(protocol.update_message(update))
        self.result.sent += 1

    async def type_for(self, start_at: float, duration: float) -> None:
        """Type `rate` stamped keys per second from start_at (wall clock) for `duration` s."""
        interval = 1.0 / self.spec.rate
        first = start_at + random.random() * interval
        count = int(duration * self.spec.rate)
        for k in range(count):
            due = first + k * interval
            delay = due - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                self.result.lag_ms.append(-delay * 1000)
            await self.send_edit(f"{now_us() % STAMP_MOD},")

    async def replay(self) -> None:
        """Send the pre-made updates as fast as the socket accepts them."""
        self.result.first_sent_at = time.time()
        for update in self.spec.updates:
            await self.ws.send(protocol.update_message(update))
        self.result.sent = len(self.spec.updates)
        self.result.sent_all_at = time.time()

    async def close(self, read_text: bool) -> None:
        if read_text:
            self.result.text = str(self.text)
        self.done.set()
        if self.ws is not None:
            await self.ws.close()


async def _run_worker(specs, ready_queue, go, release, start_at, duration, drain, worker_index):
    clients = [BenchClient(spec) for spec in specs]
    limit = asyncio.Semaphore(50)  # many handshakes at once overwhelm some servers' accept()

    async def connect(client):
        async with limit:
            try:
                await asyncio.wait_for(client.connect(), 60)
            except Exception as exc:
                client.result.error = f"connect: {type(exc).__name__}: {exc}"

    await asyncio.gather(*(connect(c) for c in clients))
    ready_queue.put(("ready", worker_index))
    await asyncio.get_running_loop().run_in_executor(None, go.wait)
    begin = start_at.value
    live = [c for c in clients if c.result.error is None]
    jobs = []
    for client in live:
        if client.spec.updates is not None:
            jobs.append(client.replay())
        elif client.spec.rate > 0:
            jobs.append(client.type_for(begin, duration))
    await asyncio.gather(*jobs)
    readers = [c for c in live if c.spec.done_state is not None]
    if readers:
        await readers_finished(readers, drain)
    else:
        # Typing ends at begin + duration; stamps in flight get `drain` seconds to arrive.
        await asyncio.sleep(max(0.0, begin + duration + drain - time.time()))
    ready_queue.put(("drained", worker_index))
    await asyncio.get_running_loop().run_in_executor(None, release.wait)

    async def close(client):
        try:
            await asyncio.wait_for(client.close(read_text=client.spec.done_state is not None), 5)
        except Exception:
            pass  # a server slow to answer the close handshake is its own business

    await asyncio.gather(*(close(c) for c in clients))
    return [client.result for client in clients]


class Progress:
    """Whether a count polled now and then has stopped growing for `stall` seconds."""

    def __init__(self, stall: float) -> None:
        self.stall = stall
        self.value: object = None
        self.changed_at = time.monotonic()

    def stalled(self, value) -> bool:
        now = time.monotonic()
        if value != self.value:
            self.value, self.changed_at = value, now
            return False
        return now - self.changed_at > self.stall


async def readers_finished(readers, drain: float, stall: float = 120.0) -> None:
    """Trace replay: until every reader holds the whole document or has lost its socket, at
    most `drain` seconds, or until `stall` seconds pass in which no reader received anything.

    A reader the server closed will not finish, and a server that stopped relaying will not
    start again: waiting out `drain` for them cost each benchmark run minutes per server."""
    deadline = time.monotonic() + drain
    progress = Progress(stall)
    while time.monotonic() < deadline:
        if all(c.done.is_set() or c.ended.is_set() for c in readers):
            return
        if progress.stalled(sum(c.result.received_updates for c in readers)):
            return
        await asyncio.sleep(0.05)


def _worker_main(specs, queues, go, release, start_at, duration, drain, index) -> None:
    ready_queue, result_queue = queues
    try:
        results = asyncio.run(
            _run_worker(specs, ready_queue, go, release, start_at, duration, drain, index)
        )
        result_queue.put(("results", index, results))
    except BaseException as exc:  # report instead of hanging the parent
        result_queue.put(("failed", index, f"{type(exc).__name__}: {exc}"))
        ready_queue.put(("failed", index))


def _expect(signal: tuple, result_queue) -> None:
    if signal[0] == "failed":
        _, index, message = result_queue.get(timeout=10)
        raise RuntimeError(f"load worker {index} failed: {message}")


def run_clients(
    specs: list[ClientSpec],
    *,
    duration: float = 0.0,
    drain: float = 2.0,
    processes: int = 4,
    on_ready=None,
    hold=None,
    timeout: float = 600.0,
) -> list[ClientResult]:
    """Connect every client (spread over `processes` workers), start them together, collect.

    on_ready(), if given, runs in the parent once every client is connected and synced, just
    before the start signal (e.g. to read the server's CPU or memory counters); hold(), if
    given, runs once every worker has finished, while every client is still connected.
    """
    context = multiprocessing.get_context("fork")
    processes = max(1, min(processes, len(specs)))
    shares = [specs[i::processes] for i in range(processes)]
    ready_queue, result_queue = context.Queue(), context.Queue()
    go, release, start_at = context.Event(), context.Event(), context.Value("d", 0.0)
    workers = [
        context.Process(
            target=_worker_main,
            args=(share, (ready_queue, result_queue), go, release, start_at, duration, drain, i),
            daemon=True,
        )
        for i, share in enumerate(shares)
    ]
    for worker in workers:
        worker.start()
    try:
        for _ in workers:
            _expect(ready_queue.get(timeout=timeout), result_queue)
        if on_ready:
            on_ready()
        start_at.value = time.time() + 0.2
        go.set()
        for _ in workers:
            _expect(ready_queue.get(timeout=timeout + duration + drain), result_queue)
        if hold:
            hold()
        release.set()
        collected: dict[int, list] = {}
        for _ in workers:
            kind, index, payload = result_queue.get(timeout=timeout)
            if kind == "failed":
                raise RuntimeError(f"load worker {index} failed: {payload}")
            collected[index] = payload
    finally:
        for worker in workers:
            worker.join(5)
            if worker.is_alive():
                worker.kill()
    # Give results back in the order of `specs`.
    ordered: list = [None] * len(specs)
    for i, share_results in collected.items():
        for j, result in enumerate(share_results):
            ordered[i + j * processes] = result
    return ordered


def percentile(values: list, q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def latency_summary(results: list[ClientResult]) -> dict:
    latencies = [ms for r in results for ms in r.latencies_ms]
    lag = [ms for r in results for ms in r.lag_ms]
    return {
        "samples": len(latencies),
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
        "p99_ms": percentile(latencies, 99),
        "mean_ms": statistics.fmean(latencies) if latencies else None,
        "sent": sum(r.sent for r in results),
        "stamps_received": sum(r.stamps_received for r in results),
        "errors": sorted({r.error for r in results if r.error})[:5],
        "generator_late_sends": len(lag),
        "generator_lag_p99_ms": percentile(lag, 99),
    }


def default_processes() -> int:
    """One generator process per core (BENCH_LOAD_PROCESSES overrides). More runnable
    processes than cores only preempt each other and the server: on 2 cores, 4 processes
    doubled the raw relay's p99 at 80 rooms against 2 (docs/benchmarks.md, sixth session)."""
    default = max(2, os.cpu_count() or 2)
    return int(os.environ.get("BENCH_LOAD_PROCESSES", default))
