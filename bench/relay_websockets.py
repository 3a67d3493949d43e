"""A raw relay (no CRDT, no auth): every frame goes to the room's other sockets, via broadcast()."""

import asyncio
import sys
from collections import defaultdict

import websockets

rooms: dict[str, set] = defaultdict(set)


async def relay(websocket) -> None:
    peers = rooms[websocket.request.path]
    peers.add(websocket)
    try:
        async for frame in websocket:
            websockets.broadcast([peer for peer in peers if peer is not websocket], frame)
    except websockets.ConnectionClosed:
        pass
    finally:
        peers.discard(websocket)


async def main(port: int) -> None:
    async with websockets.serve(relay, "127.0.0.1", port, max_size=None, compression=None):
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
