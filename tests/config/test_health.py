"""The health probe (config/health.py)."""

from unittest import mock

from config import health


def test_healthz_reports_dynamodb_reachable(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "dynamodb": "ok"}


def test_healthz_is_503_with_a_clear_message_when_dynamodb_is_down(client):
    with mock.patch.object(health._probe_connection(), "list_tables", side_effect=ConnectionError("refused")):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "dynamodb": "unreachable",
        "error": "DynamoDB is not reachable: refused",
        "code": "dynamodb_unreachable",
    }
