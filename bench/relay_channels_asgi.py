"""A raw relay on Channels + Daphne (no CRDT, no auth, no database): one group per room."""

import hashlib

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    INSTALLED_APPS=["channels"],
    # The same capacity as the app's settings: the default 100 drops group messages.
    CHANNEL_LAYERS={
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"capacity": 10_000, "expiry": 60},
        }
    },
)
django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import re_path  # noqa: E402


class RelayConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        room = self.scope["url_route"]["kwargs"]["room"]
        self.group = "room." + hashlib.sha1(room.encode()).hexdigest()
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code) -> None:
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None) -> None:
        await self.channel_layer.group_send(
            self.group, {"type": "relay.frame", "frame": bytes_data, "sender": self.channel_name}
        )

    async def relay_frame(self, event) -> None:
        if event["sender"] != self.channel_name:
            await self.send(bytes_data=event["frame"])


application = ProtocolTypeRouter(
    {"websocket": URLRouter([re_path(r"^(?P<room>[^?]+)$", RelayConsumer.as_asgi())])}
)
