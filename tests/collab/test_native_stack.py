"""collab.native_stack: the server's threads survive nesting far beyond the depth bound."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from .child_stack import default_stack
from .test_depth_limit import nesting_updates

CHILD = textwrap.dedent(
    """
    import sys, threading
    if sys.argv[1] == "raised":
        from collab.native_stack import raise_native_stack
        raise_native_stack()
    from pycrdt import Doc, XmlFragment
    data, doc = sys.stdin.buffer.read(), Doc()
    while data:
        n = int.from_bytes(data[:4], "big")
        doc.apply_update(data[4 : 4 + n])
        data = data[4 + n :]
    def convert():
        print("converted", len(str(doc.get("prosemirror", type=XmlFragment))), flush=True)
    convert()  # the main thread (the event loop's)
    worker = threading.Thread(target=convert)  # a worker (asyncio.to_thread, the db thread)
    worker.start()
    worker.join()
    """
)


@pytest.mark.parametrize("mode", ["default", "raised"])
def test_a_30000_level_document_converts_only_with_the_raised_stack(mode):
    # 250 updates x 120 levels: what the depth map now refuses, built here without it.
    framed = b"".join(len(p).to_bytes(4, "big") + p for p in nesting_updates(120, 250))
    child = subprocess.run(
        [sys.executable, "-c", CHILD, mode],
        input=framed,
        capture_output=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
        preexec_fn=default_stack,
    )
    out = child.stdout.decode()
    if mode == "raised":
        assert child.returncode == 0, child.stderr.decode()[-2000:]
        assert out.count("converted") == 2
    else:
        assert child.returncode != 0 and "converted" not in out  # native stack overflow
