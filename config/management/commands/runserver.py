"""``manage.py runserver``: daphne's development server (autoreload, static files) running ``ChatServer``.

So ``make dev`` gets the same WebSocket limits and 1009 close as ``scripts/serve`` (config/asgi_server.py).
"""

from daphne.management.commands.runserver import Command as DaphneRunserver

from config.asgi_server import ChatServer


class Command(DaphneRunserver):
    server_cls = ChatServer
