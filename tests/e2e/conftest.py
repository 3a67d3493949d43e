"""Fixtures for browser tests: headless Chromium (through a node playwright-core driver) and a
live Daphne server with people who can sign in through the real login form."""

import json
import os
import queue
import re
import shutil
import signal
import subprocess
import threading
from collections import deque
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.live.server import LiveDatabase, LiveServer

ROOT = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).resolve().parent / "browser_driver.mjs"
BUNDLE = ROOT / "frontend" / "static" / "frontend" / "editor.js"
BUNDLE_INPUTS = [
    ROOT / "frontend" / "src",
    ROOT / "frontend" / "build.mjs",
    ROOT / "package-lock.json",
]
CHROMIUM = os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium")

PASSWORD = "e2e-Correct-Horse-7"
# Display names differ from the address's local part, so a label proves it came from the account.
PEOPLE = {
    "ann": {"display_name": "Ann Archer", "color": "#e6194b"},
    "bob": {"display_name": "Bob Baker", "color": "#4363d8"},
    "val": {"display_name": "Val Vance", "color": "#3cb44b"},
}


def _missing(reason: str) -> None:
    """In CI a missing browser prerequisite fails the run; locally the tests skip."""
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the browser tests: {reason}", pytrace=False)
    pytest.skip(reason)


def _newest_mtime(paths) -> float:
    newest = 0.0
    for path in paths:
        if path.is_dir():
            newest = max([newest, *(p.stat().st_mtime for p in path.rglob("*") if p.is_file())])
        elif path.exists():
            newest = max(newest, path.stat().st_mtime)
    return newest


@pytest.fixture(scope="session")
def browser_prerequisites():
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        _missing(
            f"Chromium not found at {CHROMIUM} (apt-get install chromium, or set E2E_CHROMIUM)"
        )
    if shutil.which("node") is None:
        _missing("node is not on PATH")
    if not (ROOT / "node_modules" / "playwright-core" / "package.json").exists():
        _missing("node_modules/playwright-core is missing (run `npm ci`)")
    # The page loads the built bundle: build it when it is missing or older than its sources.
    if not BUNDLE.exists() or BUNDLE.stat().st_mtime < _newest_mtime(BUNDLE_INPUTS):
        result = subprocess.run(
            ["npm", "run", "build"], cwd=ROOT, capture_output=True, text=True, timeout=180
        )
        if result.returncode != 0 or not BUNDLE.exists():
            pytest.fail(
                f"`npm run build` failed, so there is no editor bundle at {BUNDLE}:\n"
                f"{result.stdout}\n{result.stderr}",
                pytrace=False,
            )


class BrowserError(AssertionError):
    pass


class Browser:
    """tests/e2e/browser_driver.mjs: one headless Chromium; each named page has its own context."""

    def __init__(self, chromium: str = CHROMIUM):
        self.process = subprocess.Popen(
            ["node", str(DRIVER), "--chromium", chromium],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
            # Its own process group, so a stuck driver can be killed together with Chromium.
            start_new_session=True,
        )
        self._lines: queue.Queue = queue.Queue()
        self._stderr: deque[str] = deque(maxlen=200)
        self._next_id = 0
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()
        try:
            ready = self._lines.get(timeout=60)
        except queue.Empty:
            self.close()
            raise BrowserError(f"browser driver did not start:\n{self.stderr()}") from None
        if ready.get("event") != "ready":
            self.close()
            raise BrowserError(f"browser driver did not start: {ready}\n{self.stderr()}")
        self.version = ready.get("version")

    def _read_stdout(self) -> None:
        for line in self.process.stdout:
            line = line.strip()
            if line:
                try:
                    self._lines.put(json.loads(line))
                except json.JSONDecodeError:
                    self._stderr.append(f"[stdout] {line}")
        self._lines.put({"event": "exit"})

    def _read_stderr(self) -> None:
        for line in self.process.stderr:
            self._stderr.append(line.rstrip())

    def stderr(self) -> str:
        return "\n".join(self._stderr)

    def call(self, cmd: str, **args):
        """Run one command; a `timeout` argument (seconds) goes to the driver, we wait longer."""
        if self.process.poll() is not None:
            raise BrowserError(f"browser driver has exited:\n{self.stderr()}")
        self._next_id += 1
        request = {"id": self._next_id, "cmd": cmd, **args}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        wait = float(args.get("timeout", 10)) + 30
        while True:
            try:
                response = self._lines.get(timeout=wait)
            except queue.Empty:
                raise BrowserError(f"browser driver gave no answer to {cmd}") from None
            if response.get("event") == "exit":
                raise BrowserError(f"browser driver exited during {cmd}:\n{self.stderr()}")
            if response.get("id") == self._next_id:
                if not response.get("ok"):
                    raise BrowserError(f"{cmd} {args}: {response.get('error')}")
                return response

    def page(self, name: str, timeout: float = 10) -> "Page":
        self.call("open", page=name, timeout=timeout)
        return Page(self, name)

    def close(self) -> None:
        """Close the browser; kill the driver's process group if it does not exit in time."""
        if self.process.poll() is None:
            try:
                self.process.stdin.write(json.dumps({"id": -1, "cmd": "quit"}) + "\n")
                self.process.stdin.flush()
                self.process.stdin.close()
            except (BrokenPipeError, OSError, ValueError):
                pass
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                for sig in (signal.SIGTERM, signal.SIGKILL):
                    try:
                        os.killpg(self.process.pid, sig)
                    except ProcessLookupError:
                        break
                    try:
                        self.process.wait(5)
                        break
                    except subprocess.TimeoutExpired:
                        continue
        if self.process.returncode not in (0, None):
            # A driver that crashed or was killed may leave Chromium behind in its group.
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


class Page:
    """One person's tab, in their own browser context."""

    def __init__(self, browser: Browser, name: str):
        self.browser = browser
        self.name = name

    def _call(self, cmd: str, **args):
        return self.browser.call(cmd, page=self.name, **args)

    def goto(self, url: str) -> dict:
        return self._call("goto", url=url)

    @property
    def url(self) -> str:
        return self._call("url")["url"]

    def wait_url(self, pattern: str, timeout: float = 10) -> str:
        return self._call("wait_url", pattern=pattern, timeout=timeout)["url"]

    def accept_dialogs(self, accept: bool = True) -> None:
        """Answer confirm() dialogs (hx-confirm) with OK from now on (default: Cancel)."""
        self._call("accept_dialogs", accept=accept)

    def set_offline(self, offline: bool = True) -> None:
        """Cut (or restore) this page's network, as when a laptop leaves the Wi-Fi."""
        self._call("set_offline", offline=offline)

    def reload(self) -> int | None:
        return self._call("reload")["status"]

    def fill(self, selector: str, value: str) -> None:
        self._call("fill", selector=selector, value=value)

    def screenshot(self, path: str, selector: str | None = None, full_page: bool = False) -> None:
        self._call("screenshot", path=path, selector=selector, fullPage=full_page)

    def set_files(self, selector: str, paths: list[str]) -> None:
        self._call("set_files", selector=selector, paths=paths)

    def select(self, selector: str, value: str) -> None:
        self._call("select", selector=selector, value=value)

    def click(self, selector: str) -> None:
        self._call("click", selector=selector)

    def type(self, text: str, delay: int = 0) -> None:
        self._call("type", text=text, delay=delay)

    def press(self, key: str) -> None:
        self._call("press", key=key)

    def text(self, selector: str) -> str | None:
        return self._call("text", selector=selector)["text"]

    def attr(self, selector: str, name: str) -> str | None:
        return self._call("attr", selector=selector, name=name)["value"]

    def probe(self, probe: str | None = None, *, fn: str | None = None, arg=None):
        """A named probe of the driver (editorText, modelText, status, caretLabels, editable)
        or a function's source `fn` called with `arg` in the page."""
        return self._call("probe", probe=probe, fn=fn, arg=arg)["value"]

    def wait(
        self,
        probe: str | None = None,
        *,
        fn: str | None = None,
        arg=None,
        timeout: float = 10,
        **match,
    ):
        """Poll until the probe's value `equals=` / `contains=` something, or is truthy."""
        return self._call("wait", probe=probe, fn=fn, arg=arg, timeout=timeout, **match)["value"]

    def diagnostics(self) -> dict:
        return self._call("diagnostics")

    def close(self) -> None:
        self._call("close_page")


@pytest.fixture(scope="module")
def browser(browser_prerequisites):
    opened = Browser()
    yield opened
    opened.close()


@contextmanager
def people_server(tmp_path, extra_env: dict | None = None):
    """A live server whose people have verified addresses, passwords, names and colours;
    `extra_env` sets its settings (tests/e2e/test_socket_limits.py lowers the limits)."""
    database = LiveDatabase(tmp_path)
    server = LiveServer(tmp_path, database, extra_env=extra_env)
    try:
        server.migrate()
        server.tokens = {name: server.user_token(f"{name}@example.com") for name in PEOPLE}
        server.manage(
            "shell",
            "-c",
            "import json\n"
            "from accounts.models import User\n"
            f"for name, person in json.loads({json.dumps(json.dumps(PEOPLE))}).items():\n"
            "    user = User.objects.get(email=f'{name}@example.com')\n"
            f"    user.set_password({PASSWORD!r})\n"
            "    user.display_name = person['display_name']\n"
            "    user.cursor_color = person['color']\n"
            "    user.save()\n",
        )
        server.start()
        server.base_url = f"http://127.0.0.1:{server.port}"
        yield server
    finally:
        server.terminate()
        database.drop()


@pytest.fixture(scope="module")
def e2e_server(browser_prerequisites, tmp_path_factory):
    """A live server whose people have verified addresses, passwords, names and colours."""
    with people_server(tmp_path_factory.mktemp("e2e")) as server:
        yield server


def sign_in(page, server, name: str, *, check_name: bool = True) -> None:
    """Sign in through the real login form and land on the dashboard."""
    page.goto(f"{server.base_url}/accounts/login/")
    page.fill("#id_login", f"{name}@example.com")
    page.fill("#id_password", PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_url(rf"^{re.escape(server.base_url)}/$")
    if check_name:
        # The top bar now names the account.
        assert page.text("header.topbar nav a") == PEOPLE[name]["display_name"]
