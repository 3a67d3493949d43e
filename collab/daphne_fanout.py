"""Relays under Daphne: a payload sent to many sockets is framed once, not once per socket.

A relayed update goes to every other socket of its room. Through ASGI each of those sends
is a coroutine, a turn through Daphne's reply dispatch and autobahn framing the same
payload again: at W1's 200 readers, most of the server's work per keystroke. autobahn
frames a payload once for many connections (`prepareMessage` / `sendPreparedMessage`, its
broadcast API); for a socket Daphne serves, the consumer writes that prepared frame to
the connection directly. Any other server (Uvicorn, channels' test communicator) and a
socket that is not open take the ASGI path.

A socket's first frame of a turn of the loop then goes out with one send(), as node
writes: Twisted's ``transport.write`` buffers it and registers the socket with the
selector, the loop's next turn sends it and unregisters it (two epoll_ctl calls and a turn
per frame, a tenth of the server's work in W2). Its further frames of the turn go through
Twisted, which sends them together next turn: a flood relays many frames per turn (W3),
and a send() each would cost more than the buffering. Only a plain TCP transport with
nothing queued ahead is written straight, so frames never overtake each other; what the
socket does not take, and every other case, goes through Twisted.
"""

import asyncio
import functools

from autobahn.websocket.protocol import PreparedMessage, WebSocketProtocol
from daphne.server import Server
from daphne.ws_protocol import WebSocketProtocol as DaphneWebSocket
from twisted.internet import tcp


class DaphneSocket:
    """The Daphne connection behind one socket's ASGI ``send``."""

    __slots__ = ("_connections", "_protocol")

    def __init__(self, server: Server, protocol: DaphneWebSocket) -> None:
        self._connections = server.connections
        self._protocol = protocol

    def send_now(self, frame: bytes) -> bool:
        """Send ``frame`` as one binary message if the socket is open; False (nothing sent)
        otherwise, for the caller to take the ASGI path (which knows what to do then)."""
        protocol = self._protocol
        if protocol.state != WebSocketProtocol.STATE_OPEN:
            return False
        # What Daphne's handle_reply checks before every reply.
        details = self._connections.get(protocol)
        if details is None or details.get("disconnected"):
            return False
        prepared = _prepared(protocol, frame)
        if protocol._perMessageCompress is not None or protocol.send_queue or protocol.logOctets:
            # What autobahn's sendData would not hand straight to transport.write.
            protocol.sendPreparedMessage(prepared)
            return True
        data = prepared.payloadHybi
        write_now(protocol.transport, data)
        protocol.trafficStats.outgoingOctetsWireLevel += len(data)
        return True

    def queued_bytes(self) -> int:
        """Bytes written to this connection that its socket has not taken yet."""
        return queued_bytes(self._protocol.transport)


def queued_bytes(transport) -> int:
    """What Twisted holds for a connection because its socket would not take it yet: a
    reader that stopped reading (under TLS, the TCP transport beneath the TLS layer)."""
    for _ in range(2):
        buffered = getattr(transport, "dataBuffer", None)
        if buffered is not None:
            return len(buffered) - transport.offset + transport._tempDataLen
        transport = getattr(transport, "transport", None)
    return 0


# Transports written straight during this turn of the loop (emptied at the next turn).
_written_this_turn: set = set()


def write_now(transport, data: bytes) -> None:
    """``transport.write(data)``, sent at once when the socket takes it all and it is the
    socket's first frame of this turn."""
    if (
        transport not in _written_this_turn
        and type(transport) is tcp.Server
        and not transport.TLS
        and transport.connected
        and not transport.disconnecting
        and not transport._writeDisconnected
        and not transport._tempDataBuffer
        and len(transport.dataBuffer) == transport.offset
    ):
        if not _written_this_turn:
            asyncio.get_running_loop().call_soon(_written_this_turn.clear)
        _written_this_turn.add(transport)
        try:
            sent = transport.socket.send(data)
        except OSError:
            # EAGAIN, or a connection going down: Twisted's write path retries or meets
            # the same error and closes the connection the usual way.
            sent = 0
        if sent == len(data):
            return
        data = data[sent:]
    transport.write(data)


def daphne_socket(send) -> DaphneSocket | None:
    """The Daphne connection of an ASGI ``send`` callable, or None under another server.

    Daphne gives each application instance ``partial(server.handle_reply, protocol)``."""
    if not isinstance(send, functools.partial) or len(send.args) != 1 or send.keywords:
        return None
    server = getattr(send.func, "__self__", None)
    protocol = send.args[0]
    if not isinstance(server, Server) or not isinstance(protocol, DaphneWebSocket):
        return None
    if getattr(send.func, "__func__", None) is not Server.handle_reply:
        return None
    return DaphneSocket(server, protocol)


# The last payload framed and its frame: a room hands the same bytes object to each of its
# sockets in turn, so the frame is built for the first and reused for the others. Holding
# the payload keeps its identity from being reused by another object.
_last: tuple[bytes, PreparedMessage] | None = None


def _prepared(protocol: DaphneWebSocket, frame: bytes) -> PreparedMessage:
    global _last
    last = _last
    if last is not None and last[0] is frame:
        return last[1]
    prepared = protocol.factory.prepareMessage(frame, isBinary=True)
    _last = (frame, prepared)
    return prepared
