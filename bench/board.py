"""A large whiteboard (10,000 shapes, 100,000 stroke points): server open time and the browser.

bench/board_fixture.mjs builds the board (deterministic); it is stored through a live Daphne
server (SQLite, or PostgreSQL when DATABASE_URL is set) as 20 updates of 500 shapes (one 3.5 MB frame was reset by the server). Then, per run:
  - in-process: `collab.store.doc_load` and `collab.whiteboard.board_json` on the same database;
  - after a server restart (cold room): a fresh JS client (yjs + y-websocket) until synced;
  - after another restart: headless Chromium signs in, opens /documents/<id>/ and waits until
    every shape has its element in the SVG (time from navigation start), then pans 60
    animation frames (setView per frame, and a real mouse drag with the hand tool) and zooms
    one wheel step, timing frames with requestAnimationFrame in the page.
Prints medians. Usage: .venv/bin/python bench/board.py [runs]   (default 3)
"""

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import Browser  # noqa: E402
from tests.live.clients import JSClient  # noqa: E402
from tests.live.server import LiveDatabase, LiveServer  # noqa: E402

SHAPES = 10_000
EMAIL = "board-bench@example.com"
PASSWORD = "bench-Correct-Horse-7"

COUNT_FN = "() => { const l = document.querySelector('#board .board__shapes'); return l ? l.childElementCount : 0 }"

# Resolves with performance.now() (ms since navigation start) at the first animation frame
# where all shapes have their element.
OPENED_FN = """(want) => new Promise((resolve) => {
  const tick = () => {
    const l = document.querySelector('#board .board__shapes')
    if (l && l.childElementCount >= want && window.board) resolve(performance.now())
    else requestAnimationFrame(tick)
  }
  tick()
})"""

# Pans by 10 px per animation frame through the app's viewport API, `frames` times.
PAN_FN = """(frames) => new Promise((resolve) => {
  const app = window.board.app
  const v0 = app.view
  const stamps = []
  const step = (t) => {
    stamps.push(t)
    if (stamps.length > frames) {
      app.setView(v0)
      const total = stamps[stamps.length - 1] - stamps[0]
      const deltas = stamps.slice(1).map((s, i) => s - stamps[i]).sort((a, b) => a - b)
      resolve({ fps: frames * 1000 / total, worst: deltas[deltas.length - 1], median: deltas[deltas.length >> 1] })
      return
    }
    const v = app.view
    app.setView({ x: v.x - 10, y: v.y - 6 })
    requestAnimationFrame(step)
  }
  requestAnimationFrame(step)
})"""

RECORD_START_FN = """() => {
  window.__frames = []
  window.__recording = true
  const loop = (t) => { window.__frames.push(t); if (window.__recording) requestAnimationFrame(loop) }
  requestAnimationFrame(loop)
  const svg = document.querySelector('#board svg').getBoundingClientRect()
  return { x: svg.left + svg.width / 2, y: svg.top + svg.height / 2, view: window.board.app.view }
}"""

RECORD_STOP_FN = """() => {
  window.__recording = false
  const s = window.__frames
  const total = s[s.length - 1] - s[0]
  return { frames: s.length - 1, fps: (s.length - 1) * 1000 / total, view: window.board.app.view }
}"""

# One wheel step (the app's zoomAt), until the frame after it has been painted.
ZOOM_FN = """(deltaY) => new Promise((resolve) => {
  const svg = document.querySelector('#board svg')
  const r = svg.getBoundingClientRect()
  const t0 = performance.now()
  svg.dispatchEvent(new WheelEvent('wheel', { deltaY, clientX: r.left + r.width / 2, clientY: r.top + r.height / 2, bubbles: true, cancelable: true }))
  requestAnimationFrame(() => setTimeout(() => resolve({ ms: performance.now() - t0, zoom: window.board.app.view.zoom }), 0))
})"""


def build_fixture(path: Path) -> list[bytes]:
    subprocess.run(
        ["node", str(ROOT / "bench" / "board_fixture.mjs"), str(path)], cwd=ROOT, check=True
    )
    data, updates, at = path.read_bytes(), [], 0
    while at < len(data):
        size = int.from_bytes(data[at : at + 4], "big")
        updates.append(data[at + 4 : at + 4 + size])
        at += 4 + size
    return updates


async def _send_updates(url: str, updates: list[bytes]) -> None:
    import websockets
    from pycrdt import Doc

    from collab import protocol

    async with websockets.connect(url, max_size=None) as ws:
        await ws.send(protocol.sync_step1_message(Doc()))
        for update in updates:
            await ws.send(protocol.update_message(update))
        await asyncio.sleep(1.0)


def store_board(server: LiveServer, token: str, document_id: str, updates: list[bytes]) -> float:
    started = time.perf_counter()
    asyncio.run(_send_updates(f"{server.ws_base}/{document_id}?token={token}", updates))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status, body = server.api("GET", f"/api/documents/{document_id}/content?format=json", token)
        if status == 200 and len(body["content"]["shapes"]) >= SHAPES:
            return time.perf_counter() - started
        time.sleep(1)
    raise RuntimeError(f"the server never had {SHAPES} shapes:\n{server.log()}")


def restart(server: LiveServer) -> None:
    server.terminate()
    server.start()


def server_open(document_id: str) -> tuple[float, float]:
    from collab.store import doc_load
    from collab.whiteboard import board_json

    t0 = time.perf_counter()
    doc, _seq = doc_load(document_id=document_id)
    t1 = time.perf_counter()
    board = board_json(doc)
    t2 = time.perf_counter()
    assert len(board["shapes"]) == SHAPES, len(board["shapes"])
    return (t1 - t0) * 1000, (t2 - t1) * 1000


def client_sync(server: LiveServer, token: str, document_id: str) -> float:
    from pycrdt import Doc, Map

    started = time.perf_counter()
    client = JSClient(server.ws_base, document_id, token)
    try:
        client.call("wait_synced", timeout=120)
        elapsed = time.perf_counter() - started
        import base64

        doc = Doc()
        doc.apply_update(base64.b64decode(client.call("encode_state")["update"]))
        assert len(doc.get("shapes", type=Map)) == SHAPES
        return elapsed
    finally:
        client.close()


def sign_in(page, base_url: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.fill("#id_login", EMAIL)
    page.fill("#id_password", PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_url(rf"^{base_url}/$", timeout=30)


def browser_run(browser: Browser, base_url: str, document_id: str, run: int) -> dict:
    page = browser.page(f"bench{run}", timeout=30)
    try:
        sign_in(page, base_url)
        call = lambda cmd, **a: browser.call(cmd, page=page.name, **a)  # noqa: E731
        started = time.perf_counter()
        page.goto(f"{base_url}/documents/{document_id}/")
        loaded = time.perf_counter() - started
        opened_ms = call("probe", fn=OPENED_FN, arg=SHAPES, timeout=300)["value"]
        assert page.probe(fn=COUNT_FN) == SHAPES
        assert page.probe(fn="() => window.board.shapes().length") == SHAPES
        result = {"load_event_s": loaded, "open_s": opened_ms / 1000}
        # Settle, then pan at zoom 1 (a screenful of shapes) and zoomed out to 0.1 (overview).
        page.probe(fn="() => new Promise((r) => setTimeout(() => r(true), 500))")
        result["pan_fps"] = call("probe", fn=PAN_FN, arg=60, timeout=120)["value"]
        page.probe(fn="() => { window.board.app.setView({ x: 0, y: 0, zoom: 0.1 }); return true }")
        page.probe(fn="() => new Promise((r) => setTimeout(() => r(true), 500))")
        result["pan_fps_overview"] = call("probe", fn=PAN_FN, arg=60, timeout=300)["value"]
        page.probe(fn="() => { window.board.app.setView({ x: 0, y: 0, zoom: 1 }); return true }")
        # A real drag with the hand tool: 60 pointer moves of 10 px.
        page.probe(fn="() => { window.board.app.setTool('hand'); return true }")
        centre = page.probe(fn=RECORD_START_FN)
        x, y = centre["x"], centre["y"]
        call("mouse", action="move", x=x, y=y)
        call("mouse", action="down", x=x, y=y)
        drag_started = time.perf_counter()
        call("mouse", action="move", x=x - 600, y=y - 300, steps=60, timeout=120)
        call("mouse", action="up", x=x - 600, y=y - 300)
        drag_s = time.perf_counter() - drag_started
        drag = page.probe(fn=RECORD_STOP_FN)
        assert drag["view"]["x"] != centre["view"]["x"], "the drag did not pan"
        result["drag"] = {**drag, "seconds": drag_s}
        result["zoom"] = [
            call("probe", fn=ZOOM_FN, arg=d, timeout=60)["value"] for d in (100, -100)
        ]
        return result
    finally:
        page.close()


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        updates = build_fixture(tmp / "board.bin")
        size = sum(map(len, updates))
        print(
            f"fixture: {SHAPES} shapes, 100,000 stroke points, {len(updates)} updates, {size:,} bytes"
        )
        database = LiveDatabase(tmp)
        server = LiveServer(tmp, database)
        browser = None
        try:
            server.migrate()
            token = server.user_token(EMAIL)
            server.manage(
                "shell",
                "-c",
                "from accounts.models import User\n"
                f"u = User.objects.get(email={EMAIL!r})\n"
                f"u.set_password({PASSWORD!r})\n"
                "u.display_name = 'Bench'\n"
                "u.save()\n",
            )
            server.start()
            base_url = f"http://127.0.0.1:{server.port}"
            status, body = server.api(
                "POST", "/api/documents/", token, {"title": "Big board", "kind": "whiteboard"}
            )
            assert status == 201, body
            document_id = body["id"]
            stored = store_board(server, token, document_id, updates)
            print(f"stored in {stored:.1f} s (one socket, until GET content has every shape)")

            os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
            os.environ["DATABASE_URL"] = database.url
            import django

            django.setup()

            browser = Browser()
            rows = []
            for run in range(runs):
                restart(server)
                load_ms, json_ms = server_open(document_id)
                sync_s = client_sync(server, token, document_id)
                restart(server)
                b = browser_run(browser, base_url, document_id, run)
                row = {
                    "doc_load ms": load_ms,
                    "board_json ms": json_ms,
                    "client sync s": sync_s,
                    "page load s": b["load_event_s"],
                    "browser open s": b["open_s"],
                    "pan fps": b["pan_fps"]["fps"],
                    "pan worst ms": b["pan_fps"]["worst"],
                    "pan fps z0.1": b["pan_fps_overview"]["fps"],
                    "drag fps": b["drag"]["fps"],
                    "drag s": b["drag"]["seconds"],
                    "zoom ms": statistics.median(z["ms"] for z in b["zoom"]),
                }
                rows.append(row)
                print(
                    f"run {run + 1}: " + ", ".join(f"{k} {v:.1f}" for k, v in row.items()),
                    flush=True,
                )
            print()
            print(f"{'metric':16} {'median':>10}   ({runs} runs, {database.vendor})")
            for key in rows[0]:
                print(f"{key:16} {statistics.median(r[key] for r in rows):10.2f}")
        finally:
            if browser:
                browser.close()
            server.terminate()
            database.drop()


if __name__ == "__main__":
    main()
