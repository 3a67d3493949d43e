"""Real clients for live tests: the JS Yjs client under node, and a pycrdt client."""

import asyncio
import json
import queue
import subprocess
import threading
from pathlib import Path

from pycrdt import Doc, Text, XmlElement, XmlFragment, XmlText

from collab import protocol

ROOT = Path(__file__).resolve().parents[2]
YCLIENT = ROOT / "tests" / "js" / "yclient.mjs"


class JSClient:
    """tests/js/yclient.mjs: yjs + y-websocket's WebsocketProvider over `ws`, as a browser would."""

    def __init__(self, ws_base: str, document_id: str, token: str):
        self.process = subprocess.Popen(
            ["node", str(YCLIENT), "--url", ws_base, "--doc", document_id, "--token", token],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self._lines: queue.Queue = queue.Queue()
        self._next_id = 0
        threading.Thread(target=self._read, daemon=True).start()
        ready = self._lines.get(timeout=30)
        assert ready.get("event") == "ready", ready

    def _read(self) -> None:
        for line in self.process.stdout:
            line = line.strip()
            if line:
                self._lines.put(json.loads(line))

    def call(self, cmd: str, **args):
        """Run one command; a `timeout` argument goes to the client, we wait a bit longer."""
        timeout = float(args.get("timeout", 10)) + 30
        self._next_id += 1
        request = {"id": self._next_id, "cmd": cmd, **args}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        while True:
            try:
                response = self._lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"yclient gave no answer to {cmd}") from None
            if response.get("id") == self._next_id:
                if not response.get("ok"):
                    raise AssertionError(f"yclient {cmd} failed: {response.get('error')}")
                return response

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.call("close", timeout=2)
            except (AssertionError, BrokenPipeError, OSError):
                pass
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()


class PyClient:
    """A y-websocket client made of pycrdt and `websockets`, on a loop in its own thread."""

    def __init__(self, ws_base: str, document_id: str, token: str):
        self.url = f"{ws_base}/{document_id}?token={token}"
        self.doc = Doc()
        self.synced = threading.Event()
        self.close_code = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._run(self._connect())

    def _run(self, coro, timeout: float = 30.0):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def _connect(self) -> None:
        import websockets

        self.ws = await websockets.connect(self.url, max_size=None)
        self._reader = asyncio.get_running_loop().create_task(self._read())
        await self.ws.send(protocol.sync_step1_message(self.doc))

    async def _read(self) -> None:
        import websockets

        try:
            async for frame in self.ws:
                message = protocol.parse_message(frame)
                match message:
                    case protocol.SyncStep1(state_vector):
                        await self.ws.send(
                            protocol.sync_step2_message(self.doc.get_update(state_vector))
                        )
                    case protocol.SyncStep2(update):
                        self.doc.apply_update(update)
                        self.synced.set()
                    case protocol.SyncUpdate(update):
                        self.doc.apply_update(update)
        except websockets.ConnectionClosed as exc:
            self.close_code = exc.rcvd.code if exc.rcvd else None

    def wait_synced(self, timeout: float = 10.0) -> None:
        assert self.synced.wait(timeout), "pycrdt client never synced"

    def _edit_and_send(self, edit) -> None:
        async def run():
            before = self.doc.get_state()
            edit()
            await self.ws.send(protocol.update_message(self.doc.get_update(before)))

        self._run(run())

    def append_paragraph(self, text: str) -> None:
        def edit():
            fragment = self.doc.get("default", type=XmlFragment)
            paragraph = XmlElement("paragraph")
            fragment.children.append(paragraph)
            paragraph.children.append(XmlText(text))

        self._edit_and_send(edit)

    def insert_text(self, name: str, index: int, text: str) -> None:
        self._edit_and_send(lambda: self.doc.get(name, type=Text).insert(index, text))

    def paragraphs(self) -> list[str]:
        async def read():
            fragment = self.doc.get("default", type=XmlFragment)
            return ["".join(str(t) for t in p.children) for p in fragment.children]

        return self._run(read())

    def text(self, name: str) -> str:
        async def read():
            return str(self.doc.get(name, type=Text))

        return self._run(read())

    def close(self) -> None:
        if not self._loop.is_running():
            return

        async def shut():
            await self.ws.close()

        try:
            self._run(shut(), timeout=5)
        except Exception:
            pass  # the server may be gone already (kill -9 tests)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
