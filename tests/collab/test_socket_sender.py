"""collab.socket_sender: a socket that takes messages at once gets them inline; one that
makes its sender wait holds up nobody, keeps its order, and is cut off past the cap."""

import asyncio

import pytest

from collab.socket_sender import SocketSender


class FakeSocket:
    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.open = asyncio.Event()
        self.open.set()
        self.fail = False

    async def send(self, message: dict) -> None:
        await self.open.wait()  # returns without suspending while set (Uvicorn's writable)
        if self.fail:
            raise ConnectionResetError("gone")
        self.received.append(message["bytes"])


def stuck_sender(max_backlog_bytes: int = 1000, on_overflow=lambda: None):
    """A socket whose client stopped reading (its send waits), and its sender."""
    socket = FakeSocket()
    socket.open.clear()
    sender = SocketSender(socket.send, max_backlog_bytes=max_backlog_bytes, on_overflow=on_overflow)
    return socket, sender


def frame(n: int, size: int = 10) -> dict:
    return {"type": "websocket.send", "bytes": bytes([n % 256]) * size}


async def test_a_socket_that_takes_messages_at_once_gets_them_inline():
    socket = FakeSocket()
    sender = SocketSender(socket.send, max_backlog_bytes=100, on_overflow=lambda: None)
    for n in range(3):
        sender.send(frame(n))
    # No await in between: the sends completed inside send().
    assert socket.received == [frame(n)["bytes"] for n in range(3)]


async def test_a_waiting_socket_holds_up_nobody_and_keeps_its_order():
    socket, sender = stuck_sender()
    for n in range(5):
        sender.send(frame(n))  # returns at once
    assert socket.received == []
    assert sender.backlog_bytes == 40
    socket.open.set()
    for _ in range(20):
        await asyncio.sleep(0)
    assert socket.received == [frame(n)["bytes"] for n in range(5)]
    assert sender.backlog_bytes == 0
    sender.send(frame(9))  # inline again
    assert socket.received[-1] == frame(9)["bytes"]


async def test_past_the_cap_the_socket_is_cut_off_once():
    cut = []
    socket, sender = stuck_sender(max_backlog_bytes=25, on_overflow=lambda: cut.append(1))
    for n in range(10):
        sender.send(frame(n))
    assert cut == [1]
    assert sender.overflowed
    assert sender.backlog_bytes == 0  # dropped: it re-syncs when it reconnects
    socket.open.set()
    await asyncio.sleep(0.01)
    assert socket.received == [frame(0)["bytes"]]  # only the send already under way


async def test_a_send_that_fails_after_waiting_drops_the_backlog_quietly():
    socket, sender = stuck_sender()
    sender.send(frame(1))
    sender.send(frame(2))
    socket.fail = True
    socket.open.set()
    await asyncio.sleep(0.01)
    assert socket.received == []
    assert sender.backlog_bytes == 0


async def test_a_send_that_fails_at_once_raises_to_the_caller():
    socket = FakeSocket()
    socket.fail = True
    sender = SocketSender(socket.send, max_backlog_bytes=1000, on_overflow=lambda: None)
    with pytest.raises(ConnectionResetError):
        sender.send(frame(1))


async def test_cancel_stops_a_waiting_send():
    socket, sender = stuck_sender()
    sender.send(frame(1))
    sender.send(frame(2))
    sender.cancel()
    await asyncio.sleep(0)
    socket.open.set()
    await asyncio.sleep(0.01)
    assert socket.received == []
