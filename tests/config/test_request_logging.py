import json
import logging

import pytest

from config.auth.identity import owner_id
from config.request_logging import JsonFormatter

LOGGER = "config.requests"


def request_records(caplog):
    return [r for r in caplog.records if r.name == LOGGER]


def test_one_line_per_request_with_id_user_method_path_status_and_latency(caplog, client, user):
    client.force_login(user)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        response = client.get("/healthz", HTTP_X_REQUEST_ID="req-123")

    (record,) = request_records(caplog)
    assert (record.request_id, record.user_id, record.method, record.path, record.status) == (
        "req-123",
        owner_id(user),
        "GET",
        "/healthz",
        200,
    )
    assert isinstance(record.latency_ms, float) and record.latency_ms >= 0
    assert record.getMessage().startswith("GET /healthz 200 ")
    assert response["X-Request-ID"] == "req-123"


def test_anonymous_requests_get_a_generated_request_id(caplog, client):
    with caplog.at_level(logging.INFO, logger=LOGGER):
        response = client.get("/no-such-page")

    (record,) = request_records(caplog)
    assert record.user_id is None
    assert record.status == 404
    assert len(record.request_id) == 32
    assert response["X-Request-ID"] == record.request_id


def test_query_strings_and_authorization_never_reach_the_log(caplog, client):
    with caplog.at_level(logging.INFO, logger=LOGGER):
        client.get("/healthz?token=secret-query-token", HTTP_AUTHORIZATION="Bearer secret-bearer-token")

    (record,) = request_records(caplog)
    line = JsonFormatter().format(record)
    assert "secret-query-token" not in line and "secret-bearer-token" not in line
    assert record.path == "/healthz"


def test_an_unusable_request_id_header_is_replaced(caplog, client):
    with caplog.at_level(logging.INFO, logger=LOGGER):
        client.get("/healthz", HTTP_X_REQUEST_ID="x" * 65)

    (record,) = request_records(caplog)
    assert record.request_id != "x" * 65


def test_json_formatter_emits_one_json_object_with_the_fields(caplog, client):
    with caplog.at_level(logging.INFO, logger=LOGGER):
        client.get("/healthz", HTTP_X_REQUEST_ID="req-json")

    (record,) = request_records(caplog)
    line = JsonFormatter().format(record)
    payload = json.loads(line)
    assert "\n" not in line
    assert payload["request_id"] == "req-json"
    assert (payload["method"], payload["path"], payload["status"]) == ("GET", "/healthz", 200)
    assert payload["logger"] == LOGGER and payload["level"] == "INFO"


@pytest.mark.django_db
async def test_async_requests_are_logged_the_same_way(caplog, async_client):
    with caplog.at_level(logging.INFO, logger=LOGGER):
        response = await async_client.get("/healthz", headers={"X-Request-ID": "req-async"})

    (record,) = request_records(caplog)
    assert (record.request_id, record.path, record.status) == ("req-async", "/healthz", 200)
    assert response["X-Request-ID"] == "req-async"
