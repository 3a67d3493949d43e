"""Daphne's socket library without the colouring of debug messages that nobody logs."""

import sys

# autobahn builds the arguments of its debug messages on every frame it sends or receives,
# even with debug logging off: `hltype`/`hlval` inspect a method and colour text through
# click (click is here for Uvicorn's CLI). Under W2 that was ~5 % of the server's CPU
# (py-spy, bench/harness.py W2 at 12 rooms). These modules import the helpers by name.
_MODULES = ("autobahn.websocket.protocol", "autobahn.twisted.websocket")


def _plain(value, *args, **kwargs):
    return value


def skip_debug_highlighting() -> None:
    """Swap autobahn's highlighting helpers for the identity in its frame-path modules.

    Only the text of autobahn's own debug messages changes (no colours, plain values);
    a no-op where autobahn is not loaded (Uvicorn)."""
    for name in _MODULES:
        module = sys.modules.get(name)
        if module is None:
            continue
        for helper in ("hl", "hltype", "hlval"):
            if hasattr(module, helper):
                setattr(module, helper, _plain)
