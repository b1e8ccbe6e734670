"""REST API of conversations: the SPA's calls, owner-only access, validation (conversations/apis.py)."""

import pytest

from conversations.ids import message_key
from conversations.models import Conversation, Message
from conversations.services import conversation_create
from tests.conversations.conftest import ALICE, BOB

pytestmark = pytest.mark.django_db

CONV = "11_1732600000000"


@pytest.fixture
def alices_conversation(client, as_alice):
    body = {
        "conversationId": CONV,
        "engineType": "11",
        "title": "Alice's",
        "userId": ALICE,
        "messages": [
            {"type": "user", "content": "question", "timestamp": "2024-11-26T10:00:00.000Z"},
            {"type": "assistant", "content": "answer", "timestamp": "2024-11-26T10:00:05.000Z"},
        ],
    }
    response = client.post("/api/conversations", body, content_type="application/json", headers=as_alice)
    assert response.status_code == 201, response.content
    return response.json()


def stored_messages(user_id, conversation_id):
    return [(m.role, m.content) for m in Message.query(message_key(user_id, conversation_id))]


def post(client, body, headers):
    return client.post("/api/conversations", body, content_type="application/json", headers=headers)


class TestList:
    def test_owner_sees_their_conversations_without_messages(self, client, as_alice, alices_conversation):
        response = client.get(f"/api/conversations?userId={ALICE}&engineType=11", headers=as_alice)
        assert response.status_code == 200
        body = response.json()
        assert body["count"] == 1
        assert body["next"] is None
        item = body["conversations"][0]
        assert item["conversationId"] == CONV
        assert item["userId"] == ALICE
        assert item["title"] == "Alice's"
        assert item["messageCount"] == 2
        assert "messages" not in item

    def test_another_user_sees_none_of_them(self, client, as_bob, alices_conversation):
        assert client.get("/api/conversations", headers=as_bob).json()["conversations"] == []

    def test_another_users_id_in_the_query_is_403(self, client, as_bob, alices_conversation):
        response = client.get(f"/api/conversations?userId={ALICE}", headers=as_bob)
        assert response.status_code == 403
        assert response.json()["code"] == "forbidden"

    def test_staff_may_name_a_user(self, client, as_staff, alices_conversation):
        assert client.get("/api/conversations", headers=as_staff).json()["count"] == 0
        body = client.get(f"/api/conversations?userId={ALICE}", headers=as_staff).json()
        assert [c["conversationId"] for c in body["conversations"]] == [CONV]

    def test_anonymous_is_401(self, client, alices_conversation):
        assert client.get("/api/conversations").status_code == 401

    def test_engine_filter_newest_first_and_paging(self, client, as_alice):
        for n, engine in enumerate(["11", "22", "11", "11"]):
            conversation_create(user_id=ALICE, engine_type=engine, conversation_id=f"{engine}_{n}")
        everything = client.get("/api/conversations", headers=as_alice).json()
        assert [c["conversationId"] for c in everything["conversations"]] == ["11_3", "11_2", "22_1", "11_0"]
        by_engine = client.get("/api/conversations?engine=11", headers=as_alice).json()
        assert [c["conversationId"] for c in by_engine["conversations"]] == ["11_3", "11_2", "11_0"]

        first = client.get("/api/conversations?engineType=11&limit=2", headers=as_alice).json()
        assert [c["conversationId"] for c in first["conversations"]] == ["11_3", "11_2"]
        assert first["count"] == 2
        rest = client.get(
            "/api/conversations", {"engineType": "11", "limit": 2, "cursor": first["next"]}, headers=as_alice
        ).json()
        assert [c["conversationId"] for c in rest["conversations"]] == ["11_0"]

    @pytest.mark.parametrize("query", ["limit=101", "limit=0", "limit=x"])
    def test_bad_limit_is_a_validation_error(self, client, as_alice, query):
        response = client.get(f"/api/conversations?{query}", headers=as_alice)
        assert response.status_code == 400
        assert response.json()["code"] == "invalid"
        assert "limit" in response.json()["fields"]

    def test_tampered_cursor_is_400(self, client, as_alice):
        response = client.get("/api/conversations?cursor=not-a-cursor", headers=as_alice)
        assert response.status_code == 400
        assert response.json()["code"] == "invalid_cursor"

    def test_another_users_cursor_does_not_leak_their_items(self, client, as_alice, as_bob):
        for n in range(3):
            conversation_create(user_id=ALICE, engine_type="11", conversation_id=f"11_{n}")
        cursor = client.get("/api/conversations?limit=1", headers=as_alice).json()["next"]
        response = client.get("/api/conversations", {"cursor": cursor}, headers=as_bob)
        assert response.status_code == 400
        assert response.json()["code"] == "invalid_cursor"

    def test_a_cursor_of_another_listing_is_400(self, client, as_alice):
        for n in range(3):
            conversation_create(user_id=ALICE, engine_type="11", conversation_id=f"11_{n}")
        all_engines = client.get("/api/conversations?limit=1", headers=as_alice).json()["next"]
        engine_11 = client.get("/api/conversations?limit=1&engineType=11", headers=as_alice).json()["next"]
        assert client.get("/api/conversations", {"cursor": engine_11}, headers=as_alice).status_code == 400
        response = client.get("/api/conversations", {"cursor": all_engines, "engineType": "11"}, headers=as_alice)
        assert response.status_code == 400
        response = client.get("/api/conversations", {"cursor": engine_11, "engineType": "22"}, headers=as_alice)
        assert response.status_code == 400


class TestCreate:
    def test_new_id_is_kept_and_messages_stored_in_order(self, client, alices_conversation):
        assert alices_conversation["conversationId"] == CONV
        assert alices_conversation["message"] == "Conversation created"
        assert [(m["role"], m["content"]) for m in alices_conversation["messages"]] == [
            ("user", "question"),
            ("assistant", "answer"),
        ]
        assert alices_conversation["messages"][0]["timestamp"] == "2024-11-26T10:00:00Z"
        assert stored_messages(ALICE, CONV) == [("user", "question"), ("assistant", "answer")]

    def test_existing_id_neither_overwrites_nor_duplicates(self, client, as_alice, alices_conversation):
        body = {
            "conversationId": CONV,
            "engineType": "11",
            "title": "Renamed by the SPA",
            "messages": [{"type": "user", "content": "question"}, {"type": "assistant", "content": "forged"}],
        }
        response = post(client, body, as_alice)
        assert response.status_code == 200
        assert response.json()["message"] == "Conversation already exists"
        assert response.json()["title"] == "Alice's"
        assert stored_messages(ALICE, CONV) == [("user", "question"), ("assistant", "answer")]

    def test_without_an_id_the_server_makes_one(self, client, as_alice):
        response = post(client, {"engineType": "22"}, as_alice)
        assert response.status_code == 201
        assert response.json()["engineType"] == "22"
        assert len(response.json()["conversationId"]) == 36

    def test_same_id_by_another_user_is_their_own_conversation(self, client, as_bob, alices_conversation):
        response = post(client, {"conversationId": CONV, "messages": [{"role": "user", "content": "bob's"}]}, as_bob)
        assert response.status_code == 201
        assert response.json()["userId"] == BOB
        assert stored_messages(ALICE, CONV) == [("user", "question"), ("assistant", "answer")]
        assert stored_messages(BOB, CONV) == [("user", "bob's")]

    def test_another_users_id_in_the_body_is_403(self, client, as_bob):
        response = post(client, {"conversationId": CONV, "userId": ALICE}, as_bob)
        assert response.status_code == 403
        assert Conversation.count(ALICE) == 0

    def test_staff_may_create_for_a_user(self, client, as_staff):
        response = post(client, {"conversationId": CONV, "userId": ALICE}, as_staff)
        assert response.status_code == 201
        assert Conversation.get(ALICE, CONV).engine_type == "11"

    def test_anonymous_is_401(self, client):
        assert post(client, {"conversationId": CONV}, {}).status_code == 401

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"conversationId": "a#b"}, "conversationId"),
            ({"conversationId": "x" * 129}, "conversationId"),
            ({"conversationId": 12}, "conversationId"),  # a number is not an id, as on the WebSocket
            ({"title": "t" * 201}, "title"),
            ({"title": 5}, "title"),
            ({"messages": [{"role": "system", "content": "x"}]}, "messages"),
            ({"messages": [{"content": "no role"}]}, "messages"),
            ({"messages": "not a list"}, "messages"),
        ],
    )
    def test_validation(self, client, as_alice, body, field):
        response = post(client, body, as_alice)
        assert response.status_code == 400
        assert response.json()["code"] == ("invalid_conversation_id" if field == "conversationId" else "invalid")
        assert field in response.json()["fields"]

    def test_an_imported_message_is_cut_to_one_dynamodb_item(self, client, as_alice, settings):
        settings.CHAT_MAX_MESSAGE_BYTES = 10
        body = {"conversationId": CONV, "messages": [{"role": "user", "content": "가나다라"}]}
        response = post(client, body, as_alice)
        assert response.status_code == 201
        # 3 bytes a character: 3 whole characters fit in 10 bytes, the split 4th is dropped.
        assert [m["content"] for m in response.json()["messages"]] == ["가나다"]

    def test_malformed_json_is_400_json(self, client, as_alice):
        response = client.post("/api/conversations", "{nope", content_type="application/json", headers=as_alice)
        assert response.status_code == 400
        assert response.json()["code"] == "parse_error"


class TestRetrieve:
    def test_owner_gets_messages(self, client, as_alice, alices_conversation):
        response = client.get(f"/api/conversations/{CONV}", headers=as_alice)
        assert response.status_code == 200
        body = response.json()
        assert {"conversationId", "userId", "engineType", "title", "messages", "createdAt", "updatedAt"} <= set(body)
        message = body["messages"][0]
        assert {"id", "role", "type", "content", "timestamp"} <= set(message)
        assert body["messagesNext"] is None

    def test_another_user_gets_404_like_an_unknown_id(self, client, as_bob, alices_conversation):
        response = client.get(f"/api/conversations/{CONV}", headers=as_bob)
        assert response.status_code == 404
        assert response.json() == {"error": "Conversation not found", "code": "conversation_not_found"}

    def test_another_users_id_in_the_query_is_403(self, client, as_bob, alices_conversation):
        assert client.get(f"/api/conversations/{CONV}?userId={ALICE}", headers=as_bob).status_code == 403

    def test_staff_may_read_a_users_conversation(self, client, as_staff, alices_conversation):
        assert client.get(f"/api/conversations/{CONV}", headers=as_staff).status_code == 404
        response = client.get(f"/api/conversations/{CONV}?userId={ALICE}", headers=as_staff)
        assert response.status_code == 200
        assert len(response.json()["messages"]) == 2

    def test_anonymous_is_401(self, client, alices_conversation):
        assert client.get(f"/api/conversations/{CONV}").status_code == 401

    def test_the_spas_lookup_before_the_first_message_is_a_clean_404(self, client, as_alice):
        response = client.get("/api/conversations/11_1732699999999", headers=as_alice)
        assert response.status_code == 404
        assert response["Content-Type"] == "application/json"

    def test_messages_are_paged_from_the_latest(self, client, as_alice):
        messages = [{"role": "user" if n % 2 == 0 else "assistant", "content": f"m{n}"} for n in range(5)]
        post(client, {"conversationId": CONV, "messages": messages}, as_alice)
        page = client.get(f"/api/conversations/{CONV}?messagesLimit=2", headers=as_alice).json()
        assert [m["content"] for m in page["messages"]] == ["m3", "m4"]
        older = client.get(
            f"/api/conversations/{CONV}", {"messagesLimit": 2, "messagesCursor": page["messagesNext"]}, headers=as_alice
        ).json()
        assert [m["content"] for m in older["messages"]] == ["m1", "m2"]
        oldest = client.get(
            f"/api/conversations/{CONV}",
            {"messagesLimit": 2, "messagesCursor": older["messagesNext"]},
            headers=as_alice,
        ).json()
        assert [m["content"] for m in oldest["messages"]] == ["m0"]

    def test_a_cursor_of_another_conversation_is_400(self, client, as_alice):
        messages = [{"role": "user", "content": f"m{n}"} for n in range(3)]
        post(client, {"conversationId": "11_other", "messages": messages}, as_alice)
        post(client, {"conversationId": CONV, "messages": messages}, as_alice)
        cursor = client.get("/api/conversations/11_other?messagesLimit=1", headers=as_alice).json()["messagesNext"]
        response = client.get(f"/api/conversations/{CONV}", {"messagesCursor": cursor}, headers=as_alice)
        assert response.status_code == 400
        assert response.json()["code"] == "invalid_cursor"

    def test_bad_messages_limit_is_400(self, client, as_alice, alices_conversation):
        response = client.get(f"/api/conversations/{CONV}?messagesLimit=501", headers=as_alice)
        assert response.status_code == 400
        assert "messagesLimit" in response.json()["fields"]


class TestRename:
    def patch(self, client, body, headers, conversation_id=CONV, query=""):
        return client.patch(
            f"/api/conversations/{conversation_id}{query}", body, content_type="application/json", headers=headers
        )

    def test_owner_renames(self, client, as_alice, alices_conversation):
        response = self.patch(client, {"title": "New title"}, as_alice)
        assert response.status_code == 200
        assert response.json()["title"] == "New title"
        assert response.json()["message"] == "Conversation updated"
        assert Conversation.get(ALICE, CONV).title == "New title"

    def test_another_user_gets_404_and_nothing_changes(self, client, as_bob, alices_conversation):
        assert self.patch(client, {"title": "Hijacked"}, as_bob).status_code == 404
        assert Conversation.get(ALICE, CONV).title == "Alice's"
        assert Conversation.count(BOB) == 0  # no stub item is created either

    def test_another_users_id_in_body_or_query_is_403(self, client, as_bob, alices_conversation):
        assert self.patch(client, {"title": "x", "userId": ALICE}, as_bob).status_code == 403
        assert self.patch(client, {"title": "x"}, as_bob, query=f"?userId={ALICE}").status_code == 403
        assert Conversation.get(ALICE, CONV).title == "Alice's"

    def test_staff_may_rename_a_users_conversation(self, client, as_staff, alices_conversation):
        assert self.patch(client, {"title": "Moderated", "userId": ALICE}, as_staff).status_code == 200
        assert Conversation.get(ALICE, CONV).title == "Moderated"

    def test_anonymous_is_401(self, client, alices_conversation):
        assert self.patch(client, {"title": "x"}, {}).status_code == 401

    @pytest.mark.parametrize("body", [{}, {"title": ""}, {"title": "   "}, {"title": "t" * 201}])
    def test_validation(self, client, as_alice, alices_conversation, body):
        response = self.patch(client, body, as_alice)
        assert response.status_code == 400
        assert "title" in response.json()["fields"]

    def test_title_of_200_characters_is_fine(self, client, as_alice, alices_conversation):
        assert self.patch(client, {"title": "t" * 200}, as_alice).status_code == 200

    def test_unknown_id_is_404(self, client, as_alice):
        assert self.patch(client, {"title": "x"}, as_alice, conversation_id="11_404").status_code == 404


class TestDelete:
    def test_owner_deletes_with_messages(self, client, as_alice, alices_conversation):
        response = client.delete(f"/api/conversations/{CONV}?userId={ALICE}", headers=as_alice)  # as the SPA does
        assert response.status_code == 200
        assert response.json() == {"message": "Conversation deleted", "conversationId": CONV}
        assert Conversation.count(ALICE) == 0
        assert stored_messages(ALICE, CONV) == []
        assert client.get(f"/api/conversations/{CONV}", headers=as_alice).status_code == 404

    def test_another_user_gets_404_and_nothing_is_deleted(self, client, as_bob, alices_conversation):
        assert client.delete(f"/api/conversations/{CONV}", headers=as_bob).status_code == 404
        assert client.delete(f"/api/conversations/{CONV}?userId={ALICE}", headers=as_bob).status_code == 403
        assert len(stored_messages(ALICE, CONV)) == 2

    def test_staff_may_delete_a_users_conversation(self, client, as_staff, alices_conversation):
        assert client.delete(f"/api/conversations/{CONV}?userId={ALICE}", headers=as_staff).status_code == 200
        assert Conversation.count(ALICE) == 0

    def test_anonymous_is_401(self, client, alices_conversation):
        assert client.delete(f"/api/conversations/{CONV}").status_code == 401
        assert Conversation.count(ALICE) == 1

    def test_unknown_and_malformed_ids_are_404(self, client, as_alice):
        assert client.delete("/api/conversations/11_404", headers=as_alice).status_code == 404
        assert client.delete("/api/conversations/a%23b", headers=as_alice).status_code == 404


class TestSessionUsers:
    def test_a_django_account_has_its_own_key_space(self, client, user, as_alice, alices_conversation):
        client.force_login(user)
        assert client.get("/api/conversations").json()["conversations"] == []
        assert client.get(f"/api/conversations/{CONV}").status_code == 404
        response = client.post("/api/conversations", {"conversationId": CONV}, content_type="application/json")
        assert response.json()["userId"] == f"local:{user.pk}"


def test_other_methods_are_405_with_allow(client, as_alice):
    response = client.put(f"/api/conversations/{CONV}", {}, content_type="application/json", headers=as_alice)
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
    assert response["Allow"] == "GET, PATCH, DELETE, HEAD, OPTIONS"
    assert client.put("/api/conversations", {}, content_type="application/json", headers=as_alice).status_code == 405


class TestDeleteAll:
    def test_deletes_every_conversation_of_the_caller_in_batches_and_says_how_many(
        self, client, as_alice, as_bob, monkeypatch
    ):
        from conversations.models import Feedback
        from conversations.services import conversations as conversation_services
        from conversations.services import feedback_set
        from tests.factories import conversation_make, message_make

        monkeypatch.setattr(conversation_services, "CONVERSATION_DELETE_BATCH", 2)  # 5 heads: 3 batches
        for number in range(5):
            conversation_make(user_id=ALICE, conversation_id=f"a{number}")
            reply = message_make(user_id=ALICE, conversation_id=f"a{number}", role="assistant", engine_type="11")
            feedback_set(user_id=ALICE, conversation_id=f"a{number}", message_id=reply.message_id, rating="up")
        conversation_make(user_id=BOB, conversation_id="a0")
        message_make(user_id=BOB, conversation_id="a0")

        response = client.delete("/api/conversations", headers=as_alice)

        assert response.status_code == 200
        assert response.json() == {"message": "Conversations deleted", "deleted": 5}
        assert list(Conversation.query(ALICE)) == []
        assert all(stored_messages(ALICE, f"a{number}") == [] for number in range(5))
        assert all(list(Feedback.query(message_key(ALICE, f"a{number}"))) == [] for number in range(5))
        assert [c.conversation_id for c in Conversation.query(BOB)] == ["a0"]
        assert stored_messages(BOB, "a0") == [("user", "hi")]
        assert client.delete("/api/conversations", headers=as_alice).json()["deleted"] == 0

    def test_anonymous_is_401(self, client):
        assert client.delete("/api/conversations").status_code == 401
