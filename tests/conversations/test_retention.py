"""Retention per engine type (conversations/services/retention.py): the TTL a turn stamps on the conversation and
its messages, refreshed by every turn; reads that hide expired items; ``expiresAt``; ``retentionDays``."""

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async

from config.auth.identity import owner_id
from config.clock import utcnow
from conversations.ids import message_key
from conversations.models import Conversation, Message
from conversations.services import feedback_set, turn_expiry
from prompts.services import engine_type_update
from tests.bedrock_frames import answer
from tests.conversations.chat_helpers import frames_until, send_frame, ws_connect
from tests.conversations.conftest import ALICE
from tests.factories import NOW, conversation_make, message_make

CONVERSATION = "11_1732600000000"


def test_turn_expiry_is_now_plus_the_retention_or_none_for_forever():
    assert turn_expiry(retention_days=30, now=NOW) == NOW + timedelta(days=30)
    assert turn_expiry(retention_days=0, now=NOW) is None
    assert turn_expiry(retention_days=None, now=NOW) is None


@pytest.mark.django_db(transaction=True)
async def test_every_turn_stamps_and_moves_the_ttl_of_what_it_writes(user, engine, fake_bedrock, frozen_time):
    await sync_to_async(engine_type_update)(engine_type="11", retention_days=30)
    fake_bedrock.stream(answer("First."))
    fake_bedrock.converse("A title")
    ws = await ws_connect(user)
    await ws.send_json_to(send_frame(idempotencyKey="k1"))
    await frames_until(ws, "title", "error")
    owner = owner_id(user)

    def stored():
        head = Conversation.get(owner, CONVERSATION)
        return head, list(Message.query(message_key(owner, CONVERSATION)))

    head, messages = await sync_to_async(stored)()
    assert head.expires_at == NOW + timedelta(days=30)
    assert [m.expires_at for m in messages] == [NOW + timedelta(days=30)] * 2

    # A shorter retention applies at the conversation's next turn, which moves the head's expiry.
    await sync_to_async(engine_type_update)(engine_type="11", retention_days=7)
    frozen_time.shift(timedelta(days=2))
    fake_bedrock.stream(answer("Second."))
    await ws.send_json_to(send_frame(idempotencyKey="k2", message="again"))
    await frames_until(ws, "chat_end", "error")
    head, messages = await sync_to_async(stored)()
    later = NOW + timedelta(days=2)
    assert head.expires_at == later + timedelta(days=7)
    expiry = {m.content: m.expires_at for m in messages}
    assert expiry["again"] == expiry["Second."] == later + timedelta(days=7)
    assert expiry["First."] == NOW + timedelta(days=30)  # a message keeps the expiry of the turn that wrote it
    await ws.disconnect()


@pytest.mark.django_db
@pytest.mark.usefixtures("frozen_time")
class TestReads:
    def test_detail_shows_expires_at_and_hides_expired_messages(self, client, as_alice):
        conversation_make(user_id=ALICE, expires_at=utcnow() + timedelta(days=3))
        message_make(user_id=ALICE, content="gone", expires_at=utcnow() - timedelta(seconds=1))
        message_make(user_id=ALICE, content="kept", expires_at=utcnow() + timedelta(days=3))
        message_make(user_id=ALICE, content="forever")
        body = client.get("/api/conversations/c1", headers=as_alice).json()
        assert body["expiresAt"] == "2026-11-18T12:00:00Z"
        assert [m["content"] for m in body["messages"]] == ["kept", "forever"]

    def test_an_expired_conversation_is_not_found_nor_listed(self, client, as_alice):
        conversation_make(user_id=ALICE, expires_at=utcnow() - timedelta(seconds=1))
        response = client.get("/api/conversations/c1", headers=as_alice)
        assert response.status_code == 404 and response.json()["code"] == "conversation_not_found"
        assert client.get("/api/conversations", headers=as_alice).json()["conversations"] == []

    def test_a_conversation_kept_forever_has_no_expiry(self, client, as_alice):
        conversation_make(user_id=ALICE)
        assert client.get("/api/conversations/c1", headers=as_alice).json()["expiresAt"] is None

    def test_feedback_expires_with_its_message(self):
        conversation_make(user_id=ALICE)
        reply = message_make(user_id=ALICE, role="assistant", engine_type="11", expires_at=NOW + timedelta(days=5))
        feedback = feedback_set(user_id=ALICE, conversation_id="c1", message_id=reply.message_id, rating="up")
        assert feedback.expires_at == NOW + timedelta(days=5)


@pytest.mark.django_db
class TestRetentionDaysOfAnEngineType:
    def test_staff_set_it_and_everybody_sees_it(self, client, cognito, engine):
        staff = cognito.headers(sub="sub-staff", groups=["admin"])
        response = client.put("/api/prompts/11", {"retentionDays": 30}, content_type="application/json", headers=staff)
        assert response.status_code == 200 and response.json()["prompt"]["retentionDays"] == 30
        user = cognito.headers(sub="sub-user")
        assert client.get("/api/prompts/11", headers=user).json()["prompt"]["retentionDays"] == 30

    @pytest.mark.parametrize("value", [-1, 3651, 1.5, "x", True])
    def test_out_of_range_is_refused_with_a_code(self, client, cognito, engine, value):
        staff = cognito.headers(sub="sub-staff", groups=["admin"])
        response = client.put(
            "/api/prompts/11", {"retentionDays": value}, content_type="application/json", headers=staff
        )
        assert response.status_code == 400 and response.json()["code"] == "invalid"
        assert "retentionDays" in response.json()["fields"]

    def test_the_service_refuses_what_the_api_would(self, engine):
        from config.errors import ValidationFailed

        with pytest.raises(ValidationFailed) as refused:
            engine_type_update(engine_type="11", retention_days=-3)
        assert "retention_days" in refused.value.extra["fields"]
