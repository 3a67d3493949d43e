"""A relay framed once for many Daphne sockets is byte for byte what Daphne would send."""

import asyncio
import functools
import socket

import pytest
from autobahn.websocket.protocol import WebSocketProtocol
from daphne.server import Server
from daphne.ws_protocol import WebSocketFactory
from twisted.internet import tcp
from twisted.internet.testing import StringTransport

from collab import daphne_fanout
from collab.daphne_fanout import daphne_socket


@pytest.fixture
def server():
    server = Server(application=None, endpoints=["tcp:port=0:interface=127.0.0.1"])
    server.connections = {}  # as Server.run sets it up
    return server


def open_socket(server):
    """A Daphne websocket connection in the open state, writing to a StringTransport."""
    factory = WebSocketFactory(server)
    protocol = factory.buildProtocol(("127.0.0.1", 0))
    transport = StringTransport()
    protocol.makeConnection(transport)
    protocol.state = WebSocketProtocol.STATE_OPEN
    server.connections[protocol] = {"connected": 0}
    return protocol, transport


@pytest.mark.parametrize("size", [0, 5, 125, 126, 65535, 65536, 200_000])
def test_prepared_frames_are_what_daphne_sends(server, size):
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    direct, direct_out = open_socket(server)
    usual, usual_out = open_socket(server)
    assert daphne_socket(functools.partial(server.handle_reply, direct)).send_now(payload)
    usual.sendMessage(payload, isBinary=True)  # what Daphne's own websocket.send does
    assert direct_out.value() == usual_out.value()
    assert len(direct_out.value()) > size


def test_one_frame_is_built_for_all_the_sockets_of_a_relay(server, monkeypatch):
    sockets = [open_socket(server) for _ in range(3)]
    built = []
    real = sockets[0][0].factory.prepareMessage

    def counting(payload, isBinary=False, doNotCompress=False):
        built.append(payload)
        return real(payload, isBinary=isBinary, doNotCompress=doNotCompress)

    for protocol, _ in sockets:
        monkeypatch.setattr(protocol.factory, "prepareMessage", counting)
    frame = b"\x00\x02\x03abc"
    for protocol, _ in sockets:
        assert daphne_socket(functools.partial(server.handle_reply, protocol)).send_now(frame)
    assert built == [frame]
    assert all(out.value().endswith(frame) for _, out in sockets)
    daphne_fanout._last = None


def test_a_socket_that_is_not_open_takes_the_asgi_path(server):
    closing, closing_out = open_socket(server)
    closing.state = WebSocketProtocol.STATE_CLOSING
    gone, gone_out = open_socket(server)
    server.connections[gone]["disconnected"] = 1.0
    for protocol in (closing, gone):
        assert not daphne_socket(functools.partial(server.handle_reply, protocol)).send_now(b"x")
    assert closing_out.value() == gone_out.value() == b""


def test_other_servers_sends_are_not_daphnes(server):
    async def send(message):
        pass

    protocol, _ = open_socket(server)
    assert daphne_socket(send) is None
    assert daphne_socket(functools.partial(server.handle_reply)) is None
    assert daphne_socket(functools.partial(print, protocol)) is None
    assert daphne_socket(functools.partial(server.handle_reply, protocol)) is not None


class RecordingReactor:
    """The selector registrations a Twisted transport asks of its reactor."""

    def __init__(self):
        self.writers = []

    def addReader(self, reader):
        pass

    def removeReader(self, reader):
        pass

    def addWriter(self, writer):
        self.writers.append(writer)

    def removeWriter(self, writer):
        pass


@pytest.fixture
def tcp_socket(server):
    """An open Daphne websocket on a real TCP transport whose peer is `peer`."""
    here, peer = socket.socketpair()
    reactor = RecordingReactor()
    protocol = WebSocketFactory(server).buildProtocol(("127.0.0.1", 0))
    transport = tcp.Server(here, protocol, ("127.0.0.1", 1), None, 1, reactor)
    protocol.makeConnection(transport)
    protocol.state = WebSocketProtocol.STATE_OPEN
    server.connections[protocol] = {"connected": 0}
    peer.setblocking(False)
    yield protocol, transport, reactor, peer
    here.close()
    peer.close()
    daphne_fanout._last = None
    daphne_fanout._written_this_turn.clear()


def received(peer) -> bytes:
    chunks = []
    while True:
        try:
            chunk = peer.recv(1 << 20)
        except BlockingIOError:
            return b"".join(chunks)
        chunks.append(chunk)


async def test_a_frame_goes_to_an_idle_socket_at_once(server, tcp_socket):
    protocol, _transport, reactor, peer = tcp_socket
    usual, usual_out = open_socket(server)
    usual.sendMessage(b"\x00\x02\x03abc", isBinary=True)
    assert daphne_socket(functools.partial(server.handle_reply, protocol)).send_now(
        b"\x00\x02\x03abc"
    )
    # On the wire before the reactor runs, and the socket never joined the selector.
    assert received(peer) == usual_out.value()
    assert reactor.writers == []
    assert protocol.trafficStats.outgoingOctetsWireLevel == len(usual_out.value())


async def test_what_the_socket_does_not_take_is_queued_in_order(server, tcp_socket):
    protocol, transport, reactor, peer = tcp_socket
    socket_of = daphne_socket(functools.partial(server.handle_reply, protocol))
    frames = [bytes([i]) * 300_000 for i in range(3)]  # more than a socket buffer holds
    for frame in frames:
        assert socket_of.send_now(frame)
    assert set(reactor.writers) == {transport}  # the rest waits for Twisted's write path
    wire = received(peer)
    while transport._tempDataBuffer or len(transport.dataBuffer) > transport.offset:
        transport.doWrite()
        wire += received(peer)
    usual, usual_out = open_socket(server)
    for frame in frames:
        usual.sendMessage(frame, isBinary=True)
    assert wire == usual_out.value()


async def test_a_closing_transport_takes_twisteds_path(server, tcp_socket):
    protocol, transport, _reactor, peer = tcp_socket
    transport.disconnecting = True
    assert daphne_socket(functools.partial(server.handle_reply, protocol)).send_now(b"abc")
    assert received(peer) == b""
    assert transport._tempDataBuffer  # buffered, as transport.write does


async def test_a_sockets_further_frames_of_a_turn_are_sent_together_next_turn(server, tcp_socket):
    """A flood relays many frames to a socket per turn: one send() each cost more (W3)."""
    protocol, transport, reactor, peer = tcp_socket
    socket_of = daphne_socket(functools.partial(server.handle_reply, protocol))
    frames = [bytes([i]) * 10 for i in range(4)]
    usual, usual_out = open_socket(server)
    for frame in frames:
        assert socket_of.send_now(frame)
        usual.sendMessage(frame, isBinary=True)
    one_frame = len(usual_out.value()) // 4
    assert received(peer) == usual_out.value()[:one_frame]  # the first, at once
    assert set(reactor.writers) == {transport}  # the others wait for Twisted's write
    transport.doWrite()
    assert received(peer) == usual_out.value()[one_frame:]
    await asyncio.sleep(0)  # the next turn: a frame goes straight again
    reactor.writers.clear()
    assert socket_of.send_now(frames[0])
    assert received(peer) == usual_out.value()[:one_frame]
    assert reactor.writers == []


async def test_what_a_reader_has_not_taken_is_counted(server, tcp_socket):
    protocol, transport, _reactor, peer = tcp_socket
    socket_of = daphne_socket(functools.partial(server.handle_reply, protocol))
    assert socket_of.queued_bytes() == 0
    for i in range(3):
        socket_of.send_now(bytes([i]) * 300_000)
    waiting = socket_of.queued_bytes()
    assert 0 < waiting <= 3 * 300_010
    taken = len(received(peer))
    transport.doWrite()  # the socket takes what fits now that some was read
    assert socket_of.queued_bytes() < waiting
    assert taken > 0
