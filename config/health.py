"""Liveness with DynamoDB reachability, for load balancers and the local stack."""

from functools import cache
from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET
from pynamodb.connection import Connection

from config.api.errors import error_response
from config.errors import UpstreamUnavailable


class DynamoDBUnreachable(UpstreamUnavailable):
    code = "dynamodb_unreachable"

    def as_dict(self) -> dict[str, Any]:
        # The healthy answer's keys too: probes read ``status`` whatever the outcome.
        return {"status": "unavailable", "dynamodb": "unreachable", **super().as_dict()}


@cache
def _probe_connection() -> Connection:
    return Connection(
        region=settings.AWS_REGION,
        host=settings.DYNAMODB_ENDPOINT_URL,
        connect_timeout_seconds=2,
        read_timeout_seconds=3,
        max_retry_attempts=0,
    )


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    try:
        _probe_connection().list_tables(limit=1)
    except Exception as exc:  # any failure means "not reachable"; the reason goes to the operator
        return error_response(DynamoDBUnreachable(f"DynamoDB is not reachable: {exc}"))
    return JsonResponse({"status": "ok", "dynamodb": "ok"})
