"""The OpenAPI document (/api/schema/), its offline Swagger UI, and a property-based run of the API against it."""

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.django_db

API_PATHS = {
    "/api/conversations",
    "/api/conversations/{conversation_id}",
    "/api/conversations/{conversation_id}/export",
    "/api/conversations/{conversation_id}/messages/{message_id}/feedback",
    "/api/admin/feedback",
    "/api/prompts",
    "/api/prompts/{engine_type}",
    "/api/prompts/{engine_type}/files",
    "/api/prompts/{engine_type}/files/{file_id}",
    "/api/me",
}


def test_schema_is_openapi_3_with_every_route(client):
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert set(document["paths"]) >= API_PATHS
    assert document["components"]["securitySchemes"]["cognitoJwt"]["scheme"] == "bearer"
    detail = document["paths"]["/api/conversations/{conversation_id}"]
    assert {"get", "patch", "delete"} <= set(detail)
    assert "put" not in detail
    assert detail["get"]["security"] == [{"cognitoJwt": []}, {"cookieAuth": []}]
    assert "delete" in document["paths"]["/api/conversations"]
    export = document["paths"]["/api/conversations/{conversation_id}/export"]["get"]
    assert set(export["responses"]["200"]["content"]) == {"text/markdown", "application/json"}
    assert [p["name"] for p in export["parameters"] if p["in"] == "query"] == ["format"]


def test_swagger_ui_is_served_without_internet(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in page
    assert "cdn.jsdelivr.net" not in page
    assert "unpkg.com" not in page


schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())


@pytest.fixture
def staff_headers(cognito, settings):
    settings.API_WRITE_THROTTLE_RATE = "off"  # many generated writes; throttling has its own tests
    return cognito.headers(sub="sub-schemathesis", groups=["admin"])


@schema.parametrize()
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case, staff_headers):
    """No 500, and every answer (status, content type, body) is one the schema documents.

    Not checked: that schema-valid input is always accepted — opaque cursors and ids are strings by schema,
    yet a made-up one is rightly refused (400 invalid_cursor, 404).
    """
    case.call_and_validate(
        headers=staff_headers,
        checks=[not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance],
    )
