"""Protocol framing as pure functions: no Django, no socket."""

import pytest
from pycrdt import Awareness, Doc, Text, read_message

from collab import protocol


def text_update(content: str) -> bytes:
    doc = Doc()
    doc["t"] = text = Text()
    text += content
    return doc.get_update()


def test_sync_step1_roundtrip():
    doc = Doc()
    frame = protocol.sync_step1_message(doc)
    message = protocol.parse_message(frame)
    assert isinstance(message, protocol.SyncStep1)
    assert message.state_vector == doc.get_state()


@pytest.mark.parametrize(
    ("build", "kind"),
    [
        (protocol.sync_step2_message, protocol.SyncStep2),
        (protocol.update_message, protocol.SyncUpdate),
    ],
)
def test_update_carrying_messages_roundtrip(build, kind):
    update = text_update("hello")
    message = protocol.parse_message(build(update))
    assert isinstance(message, kind)
    assert message.update == update


def test_awareness_roundtrip_and_client_ids():
    doc = Doc()
    awareness = Awareness(doc)
    awareness.set_local_state({"user": {"name": "x"}})
    update = awareness.encode_awareness_update([doc.client_id])
    message = protocol.parse_message(protocol.awareness_message(update))
    assert message == protocol.AwarenessUpdate(update)
    assert protocol.awareness_client_ids(update) == [doc.client_id]


def test_query_awareness():
    assert protocol.parse_message(b"\x03") == protocol.QueryAwareness()


def test_permission_denied_is_an_auth_message_with_reason():
    frame = protocol.permission_denied_message("no access")
    assert frame[0] == protocol.MessageType.AUTH
    assert frame[1] == 0  # permission denied
    assert read_message(frame[2:]) == b"no access"


@pytest.mark.parametrize(
    "frame",
    [
        b"",
        b"\x00",  # sync without a sync type
        b"\x00\x09\x00",  # unknown sync type
        b"\x00\x02\x05ab",  # payload shorter than its length
        b"\x00\x02\x01ab",  # trailing bytes after the payload
        b"\x01",  # awareness without a payload
        b"\x07",  # unknown message type
        b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",  # varUint that never ends
    ],
)
def test_malformed_frames_raise_protocol_error(frame):
    with pytest.raises(protocol.ProtocolError):
        protocol.parse_message(frame)


def test_malformed_awareness_update_raises_protocol_error():
    with pytest.raises(protocol.ProtocolError):
        protocol.awareness_client_ids(b"\x05\x01")


def test_random_frames_only_raise_protocol_error():
    import random

    rng = random.Random(7)
    for _ in range(5000):
        frame = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 12)))
        try:
            protocol.parse_message(frame)
        except protocol.ProtocolError:
            pass
