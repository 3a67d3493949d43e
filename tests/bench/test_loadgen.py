"""The load generator's clients open a socket as stock y-websocket clients do."""

import asyncio

import websockets

from bench import loadgen
from collab import protocol
from collab.client_ids import awareness_entries


async def test_a_client_sends_sync_step_1_then_its_awareness_on_open():
    """y-websocket sends its awareness state ({} by default) right after sync step 1: the
    server meets the client id at connect, not with the first keystroke."""
    frames = []

    async def server(ws):
        async for frame in ws:
            frames.append(frame)
            if len(frames) == 1:
                await ws.send(protocol.sync_step2_message(b"\x00\x00"))

    async with websockets.serve(server, "127.0.0.1", 0) as listening:
        port = listening.sockets[0].getsockname()[1]
        client = loadgen.BenchClient(loadgen.ClientSpec(f"ws://127.0.0.1:{port}/"))
        await asyncio.wait_for(client.connect(), 10)
        for _ in range(100):
            if len(frames) >= 2:
                break
            await asyncio.sleep(0.01)
        await client.close(read_text=False)
    assert isinstance(protocol.parse_message(frames[0]), protocol.SyncStep1)
    presence = protocol.parse_message(frames[1])
    assert isinstance(presence, protocol.AwarenessUpdate)
    [(client_id, _entry)] = awareness_entries(presence.update)
    assert client_id == client.doc.client_id
