"""``manage.py serve``: the production server, daphne with the chat protocol's limits (``scripts/serve`` runs it)."""

from daphne.endpoints import build_endpoint_description_strings
from django.core.management.base import BaseCommand

from config.asgi_server import serve


class Command(BaseCommand):
    help = (
        "Serve HTTP and the chat WebSocket with daphne, with the WebSocket message limit of "
        "CHAT_TRANSPORT_MAX_FRAME_BYTES (docs/deployment.md)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="0.0.0.0", help="interface to listen on (default 0.0.0.0)")  # noqa: S104
        parser.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
        parser.add_argument("--fd", type=int, help="serve on this already bound socket's file descriptor instead")
        parser.add_argument(
            "--proxy-headers",
            action="store_true",
            help="take the client address from X-Forwarded-For/-Port (only behind a proxy that sets them)",
        )

    def handle(self, *args, host: str, port: int, fd: int | None, proxy_headers: bool, verbosity: int, **options):
        from config.asgi import application

        headers = {}
        if proxy_headers:
            headers = {
                "proxy_forwarded_address_header": "X-Forwarded-For",
                "proxy_forwarded_port_header": "X-Forwarded-Port",
                "proxy_forwarded_proto_header": "X-Forwarded-Proto",
            }
        if fd is not None:
            endpoints = build_endpoint_description_strings(file_descriptor=fd)
            self.stdout.write(f"Serving on file descriptor {fd} (daphne, WebSocket messages up to the set limit)")
        else:
            endpoints = build_endpoint_description_strings(host=host, port=port)
            self.stdout.write(f"Serving on http://{host}:{port}/ (daphne, WebSocket messages up to the set limit)")
        serve(application, endpoints=endpoints, verbosity=verbosity, **headers)
