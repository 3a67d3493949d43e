"""pycrdt-websocket's ASGIServer as a peer to benchmark; runs from the venv bench/peers.sh makes."""

import asyncio

from pycrdt.websocket import ASGIServer, WebsocketServer

websocket_server = WebsocketServer(auto_clean_rooms=True)
_asgi = ASGIServer(websocket_server)
_started: asyncio.Task | None = None
_room_lock = asyncio.Lock()


async def app(scope, receive, send):
    # Daphne sends no lifespan events, so the room server starts with the first connection.
    global _started
    if scope["type"] == "websocket":
        if _started is None:
            _started = asyncio.ensure_future(websocket_server.start())
        await websocket_server.started.wait()
        # Two first joins at once both try to start the new room ("YRoom already running")
        # and one connection hangs unsynced; starting it under a lock sidesteps that race.
        async with _room_lock:
            await websocket_server.get_room(scope["path"])
    await _asgi(scope, receive, send)
