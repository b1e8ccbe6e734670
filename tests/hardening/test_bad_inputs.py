"""The hostile-input corpus (tests/hardening/bad_inputs.json) over the WebSocket and REST.

Each case must get its stable code (an ``error`` frame, or a 4xx JSON body), never a 500 or ``internal_error``; the
socket stays usable (a good frame is answered after each case); nothing stored changes.
"""

import json
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async

from config.auth.identity import owner_id
from config.dynamodb.tables import all_models
from tests.conversations.chat_helpers import ws_connect
from tests.factories import conversation_make, message_make

pytestmark = pytest.mark.django_db(transaction=True)

CORPUS = json.loads((Path(__file__).parent / "bad_inputs.json").read_text(encoding="utf-8"))
CONVERSATION = "11_1732600000000"


def expanded(text: str, expand: dict[str, list]) -> str:
    for token, (piece, times) in (expand or {}).items():
        text = text.replace(token, piece * times)
    return text


def snapshot() -> dict[str, list[str]]:
    """Every item of every table, serialised: compared before and after each case."""
    return {
        model.Meta.table_name: sorted(json.dumps(item.serialize(), sort_keys=True) for item in model.scan())
        for model in all_models()
    }


@pytest.fixture
def stored(user, engine):
    user_id = owner_id(user)
    conversation_make(user_id=user_id, conversation_id=CONVERSATION, message_count=2, title="Kept")
    message_make(user_id=user_id, conversation_id=CONVERSATION, content="question", message_id="m1")
    message_make(user_id=user_id, conversation_id=CONVERSATION, role="assistant", content="answer")
    return user


def test_the_corpus_is_large_and_names_a_code_for_every_case():
    cases = CORPUS["websocket"] + CORPUS["rest"]
    assert len(cases) >= 100
    assert len({case["name"] for case in CORPUS["websocket"]}) == len(CORPUS["websocket"])
    assert len({case["name"] for case in CORPUS["rest"]}) == len(CORPUS["rest"])
    assert all(case["code"] and case["code"] not in {"internal_error", "server_error"} for case in cases)


async def test_every_bad_frame_gets_its_code_on_a_socket_that_stays_usable_and_changes_nothing(stored):
    communicator = await ws_connect(stored)
    before = await sync_to_async(snapshot)()
    wrong = []
    for case in CORPUS["websocket"]:
        text = expanded(case["raw"], case.get("expand")) if "raw" in case else json.dumps(case["frame"])
        key = "bytes" if case.get("binary") else "text"
        await communicator.send_input({"type": "websocket.receive", key: text.encode() if key == "bytes" else text})
        answer = await communicator.receive_json_from(timeout=10)
        if answer.get("type") != "error" or answer.get("code") != case["code"]:
            wrong.append((case["name"], answer))
        # The socket still works: a good frame gets its answer (nothing is generating, so this exact error).
        await communicator.send_json_to({"action": "stopGeneration", "conversationId": CONVERSATION})
        probe = await communicator.receive_json_from(timeout=10)
        assert probe["code"] == "no_active_generation", (case["name"], probe)
        assert await sync_to_async(snapshot)() == before, case["name"]
    assert await communicator.receive_nothing(timeout=0.2)
    await communicator.disconnect()
    assert wrong == []


def test_every_bad_request_gets_its_status_and_code_and_changes_nothing(client, stored, cognito):
    client.force_login(stored)
    before = snapshot()
    wrong = []
    for case in CORPUS["rest"]:
        client.logout() if case.get("auth") == "none" else client.force_login(stored)
        headers = {"Authorization": "Bearer not.a.token"} if case.get("auth") == "forged" else {}
        if "raw" in case:
            body = expanded(case["raw"], case.get("expand")).encode("utf-8", "surrogateescape")
        else:
            body = json.dumps(case["body"]).encode() if "body" in case else b""
        response = client.generic(
            case["method"],
            case["path"],
            body,
            content_type=case.get("contentType", "application/json"),
            headers=headers,
        )
        assert response["Content-Type"].startswith("application/json"), case["name"]
        answer = response.json()
        if (response.status_code, answer.get("code")) != (case["status"], case["code"]):
            wrong.append((case["name"], response.status_code, answer))
        assert 400 <= response.status_code < 500, case["name"]
        assert snapshot() == before, case["name"]
    assert wrong == []
