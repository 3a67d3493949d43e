"""A y-websocket client over channels' WebsocketCommunicator, for consumer tests."""

import asyncio

from channels.testing import WebsocketCommunicator
from pycrdt import Awareness, Doc, XmlElement, XmlFragment, XmlText

from collab import protocol


class YSocket:
    def __init__(
        self,
        application,
        document_id,
        *,
        cookie: str | None = None,
        token=None,
        origin: str | None = "http://localhost",
    ):
        path = f"/ws/documents/{document_id}"
        if token:
            path += f"?token={token}"
        headers = []
        if origin:
            headers.append((b"origin", origin.encode()))
        if cookie:
            headers.append((b"cookie", cookie.encode()))
        self.comm = WebsocketCommunicator(application, path, headers=headers)
        self.doc = Doc()
        self.awareness = Awareness(self.doc)
        self.synced = False
        self.close_code = None
        self.frames: list[bytes] = []

    async def connect(self) -> bool:
        connected, _ = await self.comm.connect()
        return connected

    async def receive(self, timeout: float = 2.0):
        """The next message parsed, or ('close', code) when the server closed the socket."""
        event = await self.comm.receive_output(timeout)
        if event["type"] == "websocket.close":
            self.close_code = event.get("code")
            return ("close", self.close_code)
        frame = event["bytes"]
        self.frames.append(frame)
        message = protocol.parse_message(frame)
        match message:
            case protocol.SyncStep1(state_vector):
                await self.send(protocol.sync_step2_message(self.doc.get_update(state_vector)))
            case protocol.SyncStep2(update):
                self.doc.apply_update(update)
                self.synced = True
            case protocol.SyncUpdate(update):
                self.doc.apply_update(update)
            case protocol.AwarenessUpdate(update):
                self.awareness.apply_awareness_update(update, "server")
        return message

    async def send(self, frame: bytes) -> None:
        await self.comm.send_to(bytes_data=frame)

    async def sync(self, timeout: float = 3.0) -> None:
        await self.send(protocol.sync_step1_message(self.doc))
        async with asyncio.timeout(timeout):
            while not self.synced:
                message = await self.receive(timeout)
                if isinstance(message, tuple):
                    raise AssertionError(f"closed with {message[1]} while syncing")

    async def drain(self, duration: float = 0.3) -> list:
        """Everything that arrives within duration."""
        # receive_nothing, unlike a timed-out receive_output, leaves the application running.
        received = []
        while self.close_code is None and not await self.comm.receive_nothing(duration):
            received.append(await self.receive(duration))
        return received

    async def wait_for(self, predicate, timeout: float = 3.0):
        async with asyncio.timeout(timeout):
            while not predicate():
                message = await self.receive(timeout)
                if isinstance(message, tuple):
                    raise AssertionError(f"closed with {message[1]}")

    def append_paragraph(self, text: str) -> bytes:
        """Edit the local doc like Tiptap would; returns the update to send."""
        fragment = self.doc.get("default", type=XmlFragment)
        before = self.doc.get_state()
        paragraph = XmlElement("paragraph")
        fragment.children.append(paragraph)
        paragraph.children.append(XmlText(text))
        return self.doc.get_update(before)

    def paragraphs(self) -> list[str]:
        fragment = self.doc.get("default", type=XmlFragment)
        return ["".join(str(t) for t in p.children) for p in fragment.children]

    async def close(self) -> None:
        await self.comm.disconnect()
