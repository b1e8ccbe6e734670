"""One place where PynamoDB models and transactions get their table names, region and endpoint."""

from functools import cache

from django.apps import apps
from django.conf import settings
from django.utils.module_loading import import_string
from pynamodb.connection import Connection
from pynamodb.constants import PAY_PER_REQUEST_BILLING_MODE


def table_meta(name: str) -> type:
    """A PynamoDB ``Meta`` for the table ``<DYNAMODB_TABLE_PREFIX><name>``."""

    class Meta:
        table_name = f"{settings.DYNAMODB_TABLE_PREFIX}{name}"
        region = settings.AWS_REGION
        host = settings.DYNAMODB_ENDPOINT_URL
        billing_mode = PAY_PER_REQUEST_BILLING_MODE
        max_pool_connections = settings.DYNAMODB_MAX_POOL_CONNECTIONS

    return Meta


@cache
def connection() -> Connection:
    """The connection for ``TransactWrite``/``TransactGet``, which ignore ``Meta.host``.

    Shared by the process like the models' own connections: building one means building a botocore client, which
    costs far more CPU than the request itself (measured in docs/performance.md).
    """
    return Connection(
        region=settings.AWS_REGION,
        host=settings.DYNAMODB_ENDPOINT_URL,
        max_pool_connections=settings.DYNAMODB_MAX_POOL_CONNECTIONS,
    )


def all_models() -> list[type]:
    """Every table of the product, in creation order (used by create_tables and tests).

    Each app lists its own PynamoDB models on its AppConfig (``dynamodb_models``), so this package never imports
    an app.
    """
    return [
        import_string(dotted)
        for app_config in apps.get_app_configs()
        for dotted in getattr(app_config, "dynamodb_models", ())
    ]


def clients_build() -> int:
    """Build every table's botocore client (and the transactions') now, once; returns how many were built.

    A server calls it at startup. Built lazily instead, the first burst of turns races to build them: every I/O
    thread that finds no client yet builds one of its own (a botocore session and client, tens of ms of CPU
    each), which cost the first 1,000 concurrent turns about 1.5 s of CPU (docs/performance.md, measured step 7).
    """
    connections = [model._get_connection().connection for model in all_models()] + [connection()]
    for each in connections:
        each.client  # noqa: B018 - the property builds and keeps the client
    return len(connections)
