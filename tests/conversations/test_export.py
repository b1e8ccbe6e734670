"""GET /api/conversations/{id}/export (conversations/apis.py ConversationExportApi, services/export.py)."""

import json

import pytest

from conversations.services import export as export_module
from conversations.services import feedback_set
from tests.conversations.conftest import ALICE
from tests.factories import conversation_make, message_make

# The clock stops before tokens are made, so they are valid at the frozen instant.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_time")]

URL = "/api/conversations/c1/export"


@pytest.fixture
def conversation(frozen_time):
    conversation = conversation_make(user_id=ALICE, title='Bonds / 채권 "quoted"')
    messages = []
    for turn in range(3):
        messages.append(message_make(user_id=ALICE, content=f"question **{turn}**\n\n- a list"))
        frozen_time.shift(1)
        messages.append(
            message_make(
                user_id=ALICE,
                role="assistant",
                content=f"# Answer {turn}\n\n```py\nprint({turn})\n```",
                model_id="m-1",
                prompt_revision=7,
                engine_type="11",
                input_tokens=10,
                output_tokens=20 + turn,
                status="complete" if turn else "stopped",
            )
        )
        frozen_time.shift(1)
    feedback_set(user_id=ALICE, conversation_id="c1", message_id=messages[1].message_id, rating="up", comment="good")
    return conversation, messages


def streamed(response) -> str:
    assert response.streaming
    return b"".join(response.streaming_content).decode()


def test_json_export_round_trips_every_stored_message_in_order(client, as_alice, conversation, monkeypatch):
    monkeypatch.setattr(export_module, "EXPORT_PAGE_MESSAGES", 2)  # several pages: each is one Query
    _, messages = conversation
    response = client.get(f"{URL}?format=json", headers=as_alice)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="c1.json"'
    body = json.loads(streamed(response))
    assert body["title"] == 'Bonds / 채권 "quoted"' and body["expiresAt"] is None
    exported = body["messages"]
    assert [m["id"] for m in exported] == [m.message_id for m in messages]
    assert [m["content"] for m in exported] == [m.content for m in messages]
    first_answer = exported[1]
    assert first_answer["role"] == "assistant" and first_answer["status"] == "stopped"
    assert first_answer["modelId"] == "m-1" and first_answer["promptRevision"] == 7
    assert first_answer["usage"]["inputTokens"] == 10 and first_answer["usage"]["outputTokens"] == 20
    assert first_answer["feedback"]["rating"] == "up" and first_answer["feedback"]["comment"] == "good"
    assert exported[3]["feedback"] is None
    assert exported[0]["createdAt"].endswith("Z")


def test_markdown_export_has_the_title_then_each_message_with_role_and_time(client, as_alice, conversation):
    response = client.get(URL, headers=as_alice)  # md is the default
    assert response["Content-Type"] == "text/markdown; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="c1.md"'
    text = streamed(response)
    assert text.startswith('# Bonds / 채권 "quoted"\n')
    assert text.index("question **0**") < text.index("# Answer 0") < text.index("question **1**")
    assert "```py\nprint(2)\n```" in text  # Markdown kept as is
    assert "## User · 2026-11-15T12:00:00.000Z" in text
    assert "## Assistant · 2026-11-15T12:00:01.000Z" in text


def test_markdown_role_names_follow_accept_language(client, as_alice, conversation):
    text = streamed(client.get(URL, headers={**as_alice, "Accept-Language": "ko"}))
    assert "## 사용자 · " in text and "## 어시스턴트 · " in text


def test_file_name_is_safe_whatever_the_conversation_id(client, as_alice, frozen_time):
    conversation_make(user_id=ALICE, conversation_id="11_17-x")
    response = client.get("/api/conversations/11_17-x/export?format=md", headers=as_alice)
    assert response["Content-Disposition"] == 'attachment; filename="11_17-x.md"'


def test_another_users_conversation_is_404(client, as_bob, conversation):
    response = client.get(URL, headers=as_bob)
    assert response.status_code == 404
    assert response.json()["code"] == "conversation_not_found"


def test_staff_cannot_export_someone_elses_conversation_either(client, as_staff, conversation):
    assert client.get(f"{URL}?userId={ALICE}", headers=as_staff).status_code == 404


def test_an_unknown_format_is_a_coded_400(client, as_alice, conversation):
    response = client.get(f"{URL}?format=pdf", headers=as_alice)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid" and "format" in response.json()["fields"]


def test_anonymous_is_401(client, conversation):
    assert client.get(URL).status_code == 401
