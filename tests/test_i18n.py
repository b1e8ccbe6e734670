"""Korean and English messages (README "Languages"): Accept-Language on REST and at the WebSocket handshake, the
same codes in both languages, and catalogs that translate every message the code marks."""

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from django.conf import settings

from tests.bedrock_frames import answer
from tests.conversations.chat_helpers import frames_until, send_frame, ws_connect

KEYWORDS = {"_": None, "gettext": None, "gettext_lazy": None}
APP_DIRS = ("config", "conversations", "prompts", "usage")


def marked_messages() -> set[str]:
    found = set()
    for directory in APP_DIRS:
        for _file, _line, message, _comments, _context in extract_from_dir(
            Path(settings.BASE_DIR) / directory, keywords=KEYWORDS
        ):
            found.add(message)
    return found


def catalog(language: str):
    with open(Path(settings.BASE_DIR) / "locale" / language / "LC_MESSAGES" / "django.po", "rb") as po:
        return read_po(po)


def test_every_marked_message_is_in_both_catalogs_and_translated_to_korean():
    korean, english = catalog("ko"), catalog("en")
    messages = marked_messages()
    assert "Conversation not found" in messages  # the extraction sees the code's messages
    assert sorted(m for m in messages if m not in english) == []
    assert sorted(m for m in messages if not (korean.get(m) and korean.get(m).string)) == []


def test_the_catalogs_are_compiled():
    for language in ("ko", "en"):
        assert (Path(settings.BASE_DIR) / "locale" / language / "LC_MESSAGES" / "django.mo").is_file(), (
            "run `make test` (or `make dev`): it compiles locale/*/LC_MESSAGES/django.po"
        )


@pytest.mark.django_db
@pytest.mark.parametrize(
    "language, expected",
    [
        ("ko", "대화를 찾을 수 없습니다"),
        ("ko-KR,ko;q=0.9,en;q=0.8", "대화를 찾을 수 없습니다"),
        ("en", "Conversation not found"),
    ],
)
def test_rest_errors_follow_accept_language_and_keep_their_code(client, cognito, language, expected):
    headers = {**cognito.headers(sub="sub-alice"), "Accept-Language": language}
    response = client.get("/api/conversations/11_1", headers=headers)
    assert response.status_code == 404
    assert response.json() == {"error": expected, "code": "conversation_not_found"}


@pytest.mark.django_db
def test_rest_falls_back_to_language_code(client, cognito, settings):
    headers = {**cognito.headers(sub="sub-alice"), "Accept-Language": "fr"}
    assert client.get("/api/conversations/11_1", headers=headers).json()["error"] == "Conversation not found"
    settings.LANGUAGE_CODE = "ko"
    assert client.get("/api/conversations/11_1", headers=headers).json()["error"] == "대화를 찾을 수 없습니다"


@pytest.mark.django_db
def test_unauthenticated_rest_errors_are_translated_too(client):
    english = client.get("/api/conversations", headers={"Accept-Language": "en"}).json()
    korean = client.get("/api/conversations", headers={"Accept-Language": "ko"}).json()
    assert english["code"] == korean["code"] == "not_authenticated"
    assert english["error"] == "Authentication credentials were not provided."  # DRF's own message and catalog
    assert korean["error"] != english["error"] and any("가" <= char <= "힣" for char in korean["error"])


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "language, invalid_json, ended, cleared",
    [
        ("ko", "프레임이 올바른 JSON이 아닙니다.", "응답 생성이 완료되었습니다.", "대화 기록이 초기화되었습니다."),
        ("en", "The frame is not valid JSON.", "The answer is complete.", "The conversation history was cleared."),
    ],
)
async def test_websocket_messages_follow_the_handshakes_accept_language(
    user, engine, fake_bedrock, language, invalid_json, ended, cleared
):
    fake_bedrock.stream(answer("Hi."))
    fake_bedrock.converse("Greeting")
    ws = await ws_connect(user, headers=[(b"accept-language", language.encode())])
    await ws.send_to(text_data="{not json")
    error = await ws.receive_json_from(timeout=10)
    assert (error["code"], error["error"], error["message"]) == ("invalid_json", invalid_json, invalid_json)

    await ws.send_json_to(send_frame())
    frames = await frames_until(ws, "title", "error")
    assert [f["message"] for f in frames if f["type"] == "chat_end"] == [ended]
    await ws.send_json_to({"action": "clearHistory", "conversationId": send_frame()["conversationId"]})
    [frame] = await frames_until(ws, "history_cleared", "error")
    assert frame["message"] == cleared
    await ws.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_refused_websocket_is_told_why_in_its_language():
    ws = await ws_connect(headers=[(b"accept-language", b"ko")])
    refusal = await ws.receive_json_from(timeout=10)
    assert refusal["code"] == "not_authenticated"
    assert refusal["message"] == "인증이 필요합니다. 로그인하거나 토큰을 전달하세요."
    await ws.receive_output(timeout=10)  # the close
