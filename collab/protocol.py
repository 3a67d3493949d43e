"""The y-websocket v1 wire protocol as pure functions over bytes, built on pycrdt's helpers.

A frame is one message: a varUint message type, then its body. Sync messages (type 0)
carry a varUint sync type (step 1, step 2, update) and a length-prefixed payload;
awareness messages (type 1) a length-prefixed awareness update; auth messages (type 2)
a varUint auth type and a reason; query-awareness (type 3) nothing.
"""

from dataclasses import dataclass
from enum import IntEnum

from pycrdt import (
    Decoder,
    YMessageType,
    YSyncMessageType,
    create_awareness_message,
    create_sync_message,
    create_update_message,
    write_var_uint,
)
from pycrdt._sync import create_sync_step2_message

# The empty update as Yjs encodes it (no structs, empty delete set). Clients send it as
# the sync step 2 answer when they have nothing the server lacks.
EMPTY_UPDATE = b"\x00\x00"


class MessageType(IntEnum):
    SYNC = YMessageType.SYNC
    AWARENESS = YMessageType.AWARENESS
    AUTH = 2
    QUERY_AWARENESS = 3


class SyncType(IntEnum):
    STEP1 = YSyncMessageType.SYNC_STEP1
    STEP2 = YSyncMessageType.SYNC_STEP2
    UPDATE = YSyncMessageType.SYNC_UPDATE


class ProtocolError(ValueError):
    """A frame that is not a well-formed y-websocket v1 message."""


@dataclass(frozen=True, slots=True)
class SyncStep1:
    state_vector: bytes


@dataclass(frozen=True, slots=True)
class SyncStep2:
    update: bytes


@dataclass(frozen=True, slots=True)
class SyncUpdate:
    update: bytes


@dataclass(frozen=True, slots=True)
class AwarenessUpdate:
    update: bytes


@dataclass(frozen=True, slots=True)
class QueryAwareness:
    pass


@dataclass(frozen=True, slots=True)
class Auth:
    body: bytes


Message = SyncStep1 | SyncStep2 | SyncUpdate | AwarenessUpdate | QueryAwareness | Auth


def _read_var_uint(frame: bytes, pos: int) -> tuple[int, int]:
    # pycrdt's Decoder reads past the end with an IndexError on truncated input and has
    # no bound on the number of continuation bytes; frames come from strangers, so read
    # the few header varUints here strictly.
    value = 0
    shift = 0
    while True:
        if pos >= len(frame):
            raise ProtocolError("truncated varUint")
        byte = frame[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise ProtocolError("varUint too long")


def _read_payload(frame: bytes, pos: int) -> bytes:
    """The length-prefixed byte string at pos, which must end the frame exactly."""
    length, pos = _read_var_uint(frame, pos)
    end = pos + length
    if end != len(frame):
        raise ProtocolError("payload length does not match the frame")
    return frame[pos:end]


def parse_message(frame: bytes) -> Message:
    """Decode one client frame; raises ProtocolError for anything malformed."""
    if not frame:
        raise ProtocolError("empty frame")
    message_type, pos = _read_var_uint(frame, 0)
    if message_type == MessageType.SYNC:
        sync_type, pos = _read_var_uint(frame, pos)
        payload = _read_payload(frame, pos)
        if sync_type == SyncType.STEP1:
            return SyncStep1(payload)
        if sync_type == SyncType.STEP2:
            return SyncStep2(payload)
        if sync_type == SyncType.UPDATE:
            return SyncUpdate(payload)
        raise ProtocolError(f"unknown sync message type {sync_type}")
    if message_type == MessageType.AWARENESS:
        return AwarenessUpdate(_read_payload(frame, pos))
    if message_type == MessageType.QUERY_AWARENESS:
        return QueryAwareness()
    if message_type == MessageType.AUTH:
        return Auth(frame[pos:])
    raise ProtocolError(f"unknown message type {message_type}")


def sync_step1_message(doc) -> bytes:
    """The server's own sync step 1: its state vector, asking the client for what it lacks."""
    return create_sync_message(doc)


def sync_step2_message(update: bytes) -> bytes:
    return create_sync_step2_message(update)


def update_message(update: bytes) -> bytes:
    return create_update_message(update)


def awareness_message(awareness_update: bytes) -> bytes:
    return create_awareness_message(awareness_update)


def permission_denied_message(reason: str) -> bytes:
    """The protocol's auth message saying permission denied (y-protocols auth.js)."""
    encoded = reason.encode()
    return (
        write_var_uint(MessageType.AUTH)
        + write_var_uint(0)
        + write_var_uint(len(encoded))
        + encoded
    )


def awareness_client_ids(awareness_update: bytes) -> list[int]:
    """The client ids an awareness update speaks for; raises ProtocolError if malformed."""
    try:
        decoder = Decoder(awareness_update)
        count = decoder.read_var_uint()
        ids = []
        for _ in range(count):
            ids.append(decoder.read_var_uint())
            decoder.read_var_uint()  # clock
            decoder.read_var_string()  # state as JSON
        return ids
    except (IndexError, RuntimeError, UnicodeDecodeError) as exc:
        raise ProtocolError("malformed awareness update") from exc
