"""Socket routes."""

from django.urls import path

from .consumers import DocumentConsumer
from .consumers_user import UserEventsConsumer

websocket_urlpatterns = [
    path("ws/documents/<uuid:document_id>", DocumentConsumer.as_asgi()),
    path("ws/me", UserEventsConsumer.as_asgi()),
]
