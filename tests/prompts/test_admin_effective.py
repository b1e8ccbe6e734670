"""An admin edit is effective on the very next chat message, which records the new revision."""

import pytest
from asgiref.sync import sync_to_async
from django.test import Client
from django.urls import reverse

from config.auth.identity import owner_id
from conversations.ids import message_key
from conversations.models import Message
from prompts.models import EngineType
from tests.conversations.chat_helpers import frames_until, send_frame, ws_connect

pytestmark = pytest.mark.django_db(transaction=True)

CONVERSATION = "11_1732600000001"


def admin_edit_instruction(editor, instruction: str) -> None:
    client = Client()
    client.force_login(editor)
    prompt = EngineType.get("11")
    response = client.post(
        reverse("admin:prompts_enginetypeentry_change", args=["11"]),
        {
            "name": prompt.name,
            "active": "on",
            "description": prompt.description,
            "instruction": instruction,
            "version": str(prompt.version),
        },
    )
    assert response.status_code == 302


def assistant_messages(user) -> list[Message]:
    messages = Message.query(message_key(owner_id(user), CONVERSATION))
    return [m for m in messages if m.role == "assistant"]


async def test_the_message_after_an_edit_uses_the_new_instruction_and_records_its_revision(
    user, editor, engine, fake_bedrock
):
    ws = await ws_connect(user)
    await ws.send_json_to(send_frame(conversationId=CONVERSATION, idempotencyKey="before-edit"))
    assert (await frames_until(ws, "chat_end", "error"))[-1]["type"] == "chat_end"

    await sync_to_async(admin_edit_instruction)(editor, "Answer in exactly one line.")
    new_revision = (await sync_to_async(EngineType.get)("11")).revision
    assert new_revision == engine.revision + 1

    await ws.send_json_to(send_frame(conversationId=CONVERSATION, idempotencyKey="after-edit", message="And now?"))
    assert (await frames_until(ws, "chat_end", "error"))[-1]["type"] == "chat_end"
    await ws.disconnect()

    before, after = (body["system"][0]["text"] for body in fake_bedrock.requests("ConverseStream"))
    assert "Write short sentences." in before and "Answer in exactly one line." not in before
    assert "Answer in exactly one line." in after and "Write short sentences." not in after
    first, second = await sync_to_async(assistant_messages)(user)
    assert (first.prompt_revision, second.prompt_revision) == (engine.revision, new_revision)
