"""Django's own errors under /api/ answer JSON ApplicationError bodies (config/api/errors.py); elsewhere HTML."""

import json

import pytest
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.test import Client

import conversations.apis
from config.api.errors import bad_request, error_response, page_not_found, permission_denied, server_error
from config.errors import Conflict

pytestmark = pytest.mark.django_db


def test_error_response_renders_the_error_with_its_status_and_headers():
    response = error_response(Conflict(code="edit_conflict", version=3), headers={"Retry-After": "1"})
    assert response.status_code == 409
    assert response["Content-Type"] == "application/json"
    assert response["Retry-After"] == "1"
    assert json.loads(response.content) == {"error": Conflict.message, "code": "edit_conflict", "version": 3}


@pytest.mark.parametrize(
    ("handler", "exception", "status", "body"),
    [
        (bad_request, SuspiciousOperation(), 400, {"error": "Bad request.", "code": "bad_request"}),
        (
            permission_denied,
            PermissionDenied(),
            403,
            {"error": "You do not have permission to do this.", "code": "forbidden"},
        ),
        (page_not_found, Exception(), 404, {"error": "Not found.", "code": "not_found"}),
    ],
)
def test_handlers_answer_json_under_api_and_html_elsewhere(rf, handler, exception, status, body):
    api = handler(rf.get("/api/anything"), exception)
    assert (api.status_code, api["Content-Type"]) == (status, "application/json")
    assert json.loads(api.content) == body

    page = handler(rf.get("/admin/anything"), exception)
    assert page.status_code == status
    assert page["Content-Type"].startswith("text/html")


def test_server_error_handler_answers_json_under_api_and_html_elsewhere(rf):
    api = server_error(rf.get("/api/anything"))
    assert api.status_code == 500
    assert json.loads(api.content) == {"error": "Internal server error.", "code": "server_error"}
    assert server_error(rf.get("/chat"))["Content-Type"].startswith("text/html")


def test_unknown_api_path_is_json_404(client):
    response = client.get("/api/no-such-thing")
    assert response.status_code == 404
    assert response.json() == {"error": "Not found.", "code": "not_found"}


def test_unknown_path_elsewhere_stays_html(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_a_suspicious_request_under_api_is_json_400(settings):
    settings.ALLOWED_HOSTS = ["testserver"]
    response = Client(raise_request_exception=False).get("/api/me", headers={"Host": "evil.example"})
    assert response.status_code == 400
    assert response.json() == {"error": "Bad request.", "code": "bad_request"}


def test_a_crash_under_api_is_json_500(cognito, monkeypatch):
    def explode(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(conversations.apis, "conversation_list", explode)
    client = Client(raise_request_exception=False)
    response = client.get("/api/conversations", headers=cognito.headers())
    assert response.status_code == 500
    assert response.json() == {"error": "Internal server error.", "code": "server_error"}
    assert "boom" not in response.content.decode()
