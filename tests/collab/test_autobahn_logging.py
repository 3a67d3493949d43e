"""autobahn's debug-message helpers become the identity in its frame-path modules."""

import autobahn.twisted.websocket
import autobahn.websocket.protocol
import pytest

from collab import autobahn_logging

MODULES = (autobahn.websocket.protocol, autobahn.twisted.websocket)


@pytest.fixture
def restored():
    saved = [
        (module, name, getattr(module, name)) for module in MODULES for name in ("hltype", "hlval")
    ]
    yield
    for module, name, value in saved:
        setattr(module, name, value)


def test_highlighting_helpers_are_swapped_for_the_identity(restored):
    autobahn_logging.skip_debug_highlighting()
    marker = object()
    for module in MODULES:
        assert module.hltype(marker) is marker
        assert module.hlval(marker) is marker
