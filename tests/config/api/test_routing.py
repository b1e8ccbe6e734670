"""One URL, one APIView per method (config/api/routing.py ``method_view``)."""

import pytest

pytestmark = pytest.mark.django_db


def test_a_method_no_operation_serves_is_json_405_with_allow(client, cognito):
    response = client.delete("/api/me", headers=cognito.headers())
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD, OPTIONS"
    assert response.json() == {"error": 'Method "DELETE" not allowed.', "code": "method_not_allowed"}


def test_each_method_reaches_its_own_operation(client, cognito):
    headers = cognito.headers(sub="sub-alice")
    created = client.post("/api/conversations", {"engineType": "11"}, content_type="application/json", headers=headers)
    assert created.status_code == 201
    listed = client.get("/api/conversations", headers=headers)
    assert listed.status_code == 200
    assert [c["conversationId"] for c in listed.json()["conversations"]] == [created.json()["conversationId"]]


def test_head_is_served_by_the_get_operation(client, cognito):
    response = client.head("/api/me", headers=cognito.headers())
    assert response.status_code == 200
    assert response.content == b""


def test_options_names_every_method_of_the_url(client, cognito):
    response = client.options("/api/conversations", headers=cognito.headers())
    assert response.status_code == 200
    assert response["Allow"] == "GET, POST, DELETE, HEAD, OPTIONS"


def test_post_and_put_of_an_engine_type_are_one_operation_on_one_url(client, cognito):
    staff = cognito.headers(sub="sub-staff", groups=["admin"])
    created = client.put("/api/prompts/22", {"name": "n"}, content_type="application/json", headers=staff)
    assert (created.status_code, created.json()["message"]) == (201, "Prompt created successfully")
    updated = client.post("/api/prompts/22", {"name": "m"}, content_type="application/json", headers=staff)
    assert (updated.status_code, updated.json()["message"]) == (200, "Prompt updated successfully")
    assert updated.json()["prompt"]["name"] == "m"
