import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
# Django must be set up before anything imports models or consumers.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from config.auth.origins import websocket_origin_validator  # noqa: E402
from config.auth.websocket import websocket_auth_stack  # noqa: E402
from config.dynamodb.tables import clients_build  # noqa: E402
from conversations.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": websocket_origin_validator(websocket_auth_stack(URLRouter(websocket_urlpatterns))),
    }
)

if settings.DYNAMODB_CLIENTS_AT_STARTUP:
    clients_build()
