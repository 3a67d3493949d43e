"""The Daphne floor: a bare ASGI relay under Daphne (no Channels, no CRDT, no auth, no database).

Each frame goes straight to the room's other sockets in this process, the way our rooms
send (one ASGI send per socket): what Daphne itself costs per message.
"""

import asyncio
from collections import defaultdict

rooms: dict[str, dict] = defaultdict(dict)


async def application(scope, receive, send) -> None:
    if scope["type"] != "websocket":
        return
    peers = rooms[scope["path"]]
    me = object()
    try:
        while True:
            message = await receive()
            kind = message["type"]
            if kind == "websocket.connect":
                await send({"type": "websocket.accept"})
                peers[me] = send
            elif kind == "websocket.receive":
                frame = message.get("bytes")
                if frame is None:
                    continue
                for peer, peer_send in list(peers.items()):
                    if peer is not me:
                        await peer_send({"type": "websocket.send", "bytes": frame})
            elif kind == "websocket.disconnect":
                return
    except asyncio.CancelledError:
        raise
    finally:
        peers.pop(me, None)
