"""👍/👎 feedback: PUT .../messages/{messageId}/feedback, the feedback in GET /api/conversations/{id}, the staff
report GET /api/admin/feedback and its admin page (conversations/services/feedback.py, selectors.feedback_report)."""

from datetime import timedelta

import pytest

from conversations.ids import message_key
from conversations.models import Feedback
from conversations.services import conversation_delete
from tests.conversations.conftest import ALICE, BOB
from tests.factories import conversation_make, message_make

# The clock stops before tokens are made, so they are valid at the frozen instant.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_time")]


def answer(conversation_id="c1", revision=7, engine_type="11", user_id=ALICE):
    return message_make(
        user_id=user_id,
        conversation_id=conversation_id,
        role="assistant",
        content="an answer",
        engine_type=engine_type,
        prompt_revision=revision,
        model_id="m-1",
    )


@pytest.fixture
def conversation():
    conversation_make(user_id=ALICE)
    question = message_make(user_id=ALICE, content="a question")
    return question, answer()


def rate(client, headers, message_id, body, conversation_id="c1"):
    return client.put(
        f"/api/conversations/{conversation_id}/messages/{message_id}/feedback",
        body,
        content_type="application/json",
        headers=headers,
    )


def test_rating_an_answer_stores_it_with_its_revision_and_shows_it_in_the_conversation(client, as_alice, conversation):
    _, reply = conversation
    response = rate(client, as_alice, reply.message_id, {"rating": "down", "comment": "too vague"})
    assert response.status_code == 200, response.content
    assert response.json()["feedback"]["rating"] == "down"
    stored = Feedback.get(message_key(ALICE, "c1"), reply.message_id)
    assert (stored.engine_type, stored.prompt_revision, stored.model_id) == ("11", 7, "m-1")

    messages = client.get("/api/conversations/c1", headers=as_alice).json()["messages"]
    assert messages[0]["feedback"] is None
    assert messages[1]["feedback"]["rating"] == "down" and messages[1]["feedback"]["comment"] == "too vague"


def test_a_new_rating_replaces_the_old_and_null_clears_it(client, as_alice, conversation):
    _, reply = conversation
    rate(client, as_alice, reply.message_id, {"rating": "down"})
    rate(client, as_alice, reply.message_id, {"rating": "up"})
    assert Feedback.get(message_key(ALICE, "c1"), reply.message_id).rating == "up"
    response = rate(client, as_alice, reply.message_id, {"rating": None})
    assert response.status_code == 200 and response.json()["feedback"] is None
    assert list(Feedback.query(message_key(ALICE, "c1"))) == []


def test_rating_does_not_write_the_conversation_or_the_message(client, as_alice, conversation):
    from conversations.models import Conversation, Message

    _, reply = conversation
    head_before = Conversation.get(ALICE, "c1").version
    rate(client, as_alice, reply.message_id, {"rating": "up"})
    assert Conversation.get(ALICE, "c1").version == head_before
    assert Message.get(message_key(ALICE, "c1"), reply.message_id).attribute_values == reply.attribute_values


def test_a_user_message_cannot_be_rated(client, as_alice, conversation):
    question, _ = conversation
    response = rate(client, as_alice, question.message_id, {"rating": "up"})
    assert response.status_code == 400 and response.json()["code"] == "feedback_not_allowed"


def test_another_users_message_or_an_unknown_one_is_404(client, as_bob, as_alice, conversation):
    _, reply = conversation
    response = rate(client, as_bob, reply.message_id, {"rating": "up"})
    assert response.status_code == 404 and response.json()["code"] == "message_not_found"
    assert rate(client, as_alice, "1-unknown", {"rating": "up"}).status_code == 404
    assert rate(client, as_alice, reply.message_id, {"rating": "up"}, conversation_id="other").status_code == 404
    assert list(Feedback.query(message_key(BOB, "c1"))) == []


@pytest.mark.parametrize(
    "body, field",
    [({"rating": "meh"}, "rating"), ({}, "rating"), ({"rating": "up", "comment": "x" * 2001}, "comment")],
)
def test_bad_input_is_a_coded_400(client, as_alice, conversation, body, field):
    _, reply = conversation
    response = rate(client, as_alice, reply.message_id, body)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid" and field in response.json()["fields"]


def test_deleting_the_conversation_deletes_its_feedback(client, as_alice, conversation):
    _, reply = conversation
    rate(client, as_alice, reply.message_id, {"rating": "up"})
    conversation_delete(user_id=ALICE, conversation_id="c1")
    assert list(Feedback.query(message_key(ALICE, "c1"))) == []


@pytest.fixture
def ratings(client, cognito, frozen_time):
    """Revision 7 of "11": 4 up (one changed from down); revision 8: 1 down; "22": 1 up (another cleared)."""
    headers = {user: cognito.headers(sub=user) for user in ("u1", "u2", "u3")}
    plan = [
        ("u1", "11", 7, "up", "clear"),
        ("u2", "11", 7, "up", None),
        ("u3", "11", 7, "up", "nope"),
        ("u1", "11", 7, "down", None),  # becomes up: counted once, as its last rating
        ("u2", "11", 8, "down", "worse since the edit"),
        ("u3", "22", 3, "up", None),
        ("u2", "22", 3, "up", None),  # cleared below
    ]
    replies = []
    for number, (user, engine_type, revision, rating, comment) in enumerate(plan):
        conversation_id = f"c{number}"
        reply = answer(conversation_id=conversation_id, revision=revision, engine_type=engine_type, user_id=user)
        assert (
            rate(
                client, headers[user], reply.message_id, {"rating": rating, "comment": comment}, conversation_id
            ).status_code
            == 200
        )
        replies.append((headers[user], reply.message_id, conversation_id))
    frozen_time.shift(timedelta(minutes=1))
    changed_headers, changed_id, changed_conversation = replies[3]
    rate(client, changed_headers, changed_id, {"rating": "up"}, changed_conversation)
    cleared_headers, cleared_id, cleared_conversation = replies[6]
    rate(client, cleared_headers, cleared_id, {"rating": None}, cleared_conversation)


def test_the_staff_report_counts_current_ratings_per_engine_and_revision(client, as_staff, ratings):
    response = client.get("/api/admin/feedback", headers=as_staff)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["engines"] == [
        {"engineType": "11", "up": 4, "down": 1},
        {"engineType": "22", "up": 1, "down": 0},
    ]
    rows = {(r["engineType"], r["revision"]): r for r in body["revisions"]}
    assert (rows[("11", 7)]["up"], rows[("11", 7)]["down"]) == (4, 0)
    assert (rows[("11", 8)]["up"], rows[("11", 8)]["down"]) == (0, 1)
    assert [c["comment"] for c in rows[("11", 8)]["comments"]] == ["worse since the edit"]
    assert sorted(c["comment"] for c in rows[("11", 7)]["comments"]) == ["clear", "nope"]
    assert [r["engineType"] for r in body["revisions"]] == ["11", "11", "22"]  # newest revision first


def test_the_report_of_one_engine_type_and_range(client, as_staff, ratings):
    body = client.get("/api/admin/feedback?engineType=22", headers=as_staff).json()
    assert body["engines"] == [{"engineType": "22", "up": 1, "down": 0}]
    assert client.get("/api/admin/feedback?from=2026-11-16&to=2026-11-20", headers=as_staff).json()["engines"] == []


def test_the_report_refuses_bad_ranges_and_non_staff(client, as_staff, as_alice):
    response = client.get("/api/admin/feedback?from=2026-11-20&to=2026-11-10", headers=as_staff)
    assert response.status_code == 400 and response.json()["code"] == "invalid_range"
    response = client.get("/api/admin/feedback?from=2024-01-01&to=2026-11-10", headers=as_staff)
    assert response.status_code == 400 and response.json()["code"] == "range_too_long"
    response = client.get("/api/admin/feedback?from=yesterday", headers=as_staff)
    assert response.status_code == 400 and "from" in response.json()["fields"]
    assert client.get("/api/admin/feedback", headers=as_alice).status_code == 403


def test_the_admin_page_shows_the_report_and_the_usage_dashboard_shows_it_under_its_chart(
    client, ratings, django_user_model
):
    staff = django_user_model.objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(staff)
    page = client.get("/admin/conversations/userconversationsentry/feedback/").content.decode()
    assert "worse since the edit" in page
    assert "<td>11</td>\n        <td>8</td>\n        <td>0</td>\n        <td>1</td>" in page
    dashboard = client.get("/admin/usage/usageaccount/", {"start": "2026-11-01", "end": "2026-11-30"}).content.decode()
    summary = dashboard[dashboard.index('<table id="feedback-summary"') :]
    assert "<tr><td>11</td><td>7</td><td>4</td><td>0</td></tr>" in summary
    assert "<tr><td>11</td><td>8</td><td>0</td><td>1</td></tr>" in summary
    assert "<tr><td>22</td><td>3</td><td>1</td><td>0</td></tr>" in summary
    assert "/admin/conversations/userconversationsentry/feedback/?start=2026-11-01&amp;end=2026-11-30" in dashboard
