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


async def test_a_reader_whose_socket_closed_does_not_hold_up_the_replay():
    """A reader the server closed (Uvicorn's keepalive, W3) ends the wait at once."""

    async def server(ws):
        await ws.recv()
        await ws.send(protocol.sync_step2_message(b"\x00\x00"))
        await ws.close(1011, "keepalive ping timeout")

    async with websockets.serve(server, "127.0.0.1", 0) as listening:
        port = listening.sockets[0].getsockname()[1]
        spec = loadgen.ClientSpec(f"ws://127.0.0.1:{port}/", reads=False, done_state=b"x")
        reader = loadgen.BenchClient(spec)
        await asyncio.wait_for(reader.connect(), 10)
        await asyncio.wait_for(loadgen.readers_finished([reader], drain=600), 10)
    assert not reader.done.is_set()
    assert reader.result.error == "closed 1011 keepalive ping timeout"


async def test_readers_that_receive_nothing_for_a_while_end_the_wait():
    async def server(ws):
        await ws.recv()
        await ws.send(protocol.sync_step2_message(b"\x00\x00"))
        await ws.wait_closed()

    async with websockets.serve(server, "127.0.0.1", 0) as listening:
        port = listening.sockets[0].getsockname()[1]
        spec = loadgen.ClientSpec(f"ws://127.0.0.1:{port}/", reads=False, done_state=b"x")
        reader = loadgen.BenchClient(spec)
        await asyncio.wait_for(reader.connect(), 10)
        await asyncio.wait_for(loadgen.readers_finished([reader], drain=600, stall=0.3), 10)
        assert not reader.done.is_set() and not reader.ended.is_set()
        await reader.close(read_text=False)
