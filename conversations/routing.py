"""WebSocket routes: ``/ws``, the path the SPA connects to."""

from django.urls import path

from conversations.consumers import ChatConsumer

websocket_urlpatterns = [
    path("ws", ChatConsumer.as_asgi()),
    path("ws/", ChatConsumer.as_asgi()),
]
