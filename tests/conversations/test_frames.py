"""The WebSocket frames' serializers: the values they accept, and each refusal exactly as the protocol sends it."""

import pytest

from config.errors import ValidationFailed
from conversations.frames import (
    ClearHistoryFrame,
    MessageFragments,
    SendMessageFrame,
    StopGenerationFrame,
    frame_parse,
)


def send(**fields):
    frame = {"action": "sendMessage", "message": "Hello?", "engineType": "11", "userId": "forged"}
    frame.update(fields)
    return {key: value for key, value in frame.items() if value is not ...}


def refusal(serializer, frame) -> dict:
    with pytest.raises(ValidationFailed) as refused:
        frame_parse(serializer, frame)
    return refused.value.as_dict()


class TestSendMessageFrame:
    def test_accepts_the_spa_frame_values_as_sent(self):
        values = frame_parse(
            SendMessageFrame, send(message="  Hi\x00 ", conversationId="11_1732600000000", idempotencyKey="0b7c-uuid")
        )
        assert dict(values) == {
            "message": "  Hi\x00 ",
            "engineType": "11",
            "conversationId": "11_1732600000000",
            "idempotencyKey": "0b7c-uuid",
        }

    @pytest.mark.parametrize("conversation_id", [..., None, "", 0, False, []])
    def test_any_false_conversation_id_means_a_new_conversation(self, conversation_id):
        assert frame_parse(SendMessageFrame, send(conversationId=conversation_id))["conversationId"] is None

    def test_without_an_idempotency_key_the_server_makes_one(self):
        assert frame_parse(SendMessageFrame, send(idempotencyKey=None))["idempotencyKey"] is None

    @pytest.mark.parametrize(
        ("fields", "body"),
        [
            (
                {"message": ...},
                {"error": "message must be a string.", "code": "invalid", "fields": {"message": ["Must be a string."]}},
            ),
            (
                {"message": 123},
                {"error": "message must be a string.", "code": "invalid", "fields": {"message": ["Must be a string."]}},
            ),
            (
                {"message": " \n "},
                {"error": "The message is empty.", "code": "message_empty", "fields": {"message": ["Empty."]}},
            ),
            (
                {"message": ""},
                {"error": "The message is empty.", "code": "message_empty", "fields": {"message": ["Empty."]}},
            ),
            (
                {"message": "x" * 201},
                {
                    "error": "The message is longer than 200 characters.",
                    "code": "message_too_long",
                    "fields": {"message": ["At most 200 characters."]},
                    "maxChars": 200,
                },
            ),
            (
                # Within the character limit but over the bytes: 4 UTF-8 bytes a character.
                {"message": "\U0001f600" * 150},
                {
                    "error": "The message is larger than 500 bytes (UTF-8).",
                    "code": "message_too_long",
                    "fields": {"message": ["At most 500 bytes."]},
                    "maxBytes": 500,
                },
            ),
            *(
                (
                    {"engineType": value},
                    {
                        "error": "engineType must be a non-empty string.",
                        "code": "invalid",
                        "fields": {"engineType": ["Required string."]},
                    },
                )
                for value in (..., None, "", "  ", 11, "x" * 33)
            ),
            *(
                (
                    {"conversationId": value},
                    {
                        "error": "conversationId is not a valid id.",
                        "code": "invalid_conversation_id",
                        "fields": {"conversationId": ["1-128 letters, digits, '_' or '-'."]},
                    },
                )
                for value in ("a#b", "../etc", 5, "x" * 129)
            ),
            *(
                (
                    {"idempotencyKey": value},
                    {
                        "error": "idempotencyKey must be a string of at most 128 characters without '#'.",
                        "code": "invalid_idempotency_key",
                        "fields": {"idempotencyKey": ["At most 128 characters, no '#'."]},
                    },
                )
                for value in ("", "a#b", "k" * 129, ["x"], 7)
            ),
        ],
    )
    def test_refuses_each_bad_value_as_the_protocol_does(self, settings, fields, body):
        settings.CHAT_MAX_MESSAGE_CHARS = 200
        settings.CHAT_MAX_MESSAGE_BYTES = 500
        assert refusal(SendMessageFrame, send(**fields)) == body

    def test_the_first_bad_field_in_the_frames_order_decides(self):
        body = refusal(SendMessageFrame, send(message="", engineType=None, idempotencyKey="#"))
        assert body["code"] == "message_empty"
        body = refusal(SendMessageFrame, send(engineType=None, idempotencyKey="#"))
        assert body["fields"] == {"engineType": ["Required string."]}


@pytest.mark.parametrize("serializer", [StopGenerationFrame, ClearHistoryFrame])
class TestConversationFrames:
    def test_take_the_conversation_id(self, serializer):
        assert frame_parse(serializer, {"conversationId": "11_1"})["conversationId"] == "11_1"

    @pytest.mark.parametrize("conversation_id", [..., None, "", "a#b", 5])
    def test_refuse_a_missing_or_bad_id(self, serializer, conversation_id):
        frame = {} if conversation_id is ... else {"conversationId": conversation_id}
        assert refusal(serializer, frame) == {"error": "conversationId is required.", "code": "invalid_conversation_id"}


def fragment(current, total=3, **fields):
    frame = {"message": f"part {current}\n", "idempotencyKey": "big", "chunkInfo": {"total": total, "current": current}}
    frame.update(fields)
    return frame


class TestMessageFragments:
    def test_parts_in_order_make_the_message(self):
        fragments = MessageFragments()
        assert [fragments.add(fragment(n)) for n in (1, 2, 3)] == [None, None, "part 1\npart 2\npart 3\n"]

    @pytest.mark.parametrize(
        "chunk_info",
        [
            {"total": 2, "current": 3},
            {"total": "2", "current": 1},
            {"total": 2, "current": 0},
            {"total": True, "current": 1},
            {"total": 17, "current": 1},
            {"current": 1},
            [1, 2],
        ],
    )
    def test_refuse_chunk_info_that_is_not_in_range(self, chunk_info):
        with pytest.raises(ValidationFailed) as refused:
            MessageFragments().add(fragment(1, chunkInfo=chunk_info))
        assert refused.value.as_dict() == {
            "error": "chunkInfo needs integers 1 <= current <= total <= 16.",
            "code": "invalid_chunk",
        }

    @pytest.mark.parametrize("fields", [{"idempotencyKey": ""}, {"idempotencyKey": None}, {"message": 5}])
    def test_need_a_string_part_and_the_messages_key(self, fields):
        with pytest.raises(ValidationFailed) as refused:
            MessageFragments().add(fragment(1, **fields))
        assert refused.value.as_dict() == {
            "error": "A fragment needs a string message and the message's idempotencyKey.",
            "code": "invalid_chunk",
        }

    def test_parts_out_of_order_are_refused_and_the_message_dropped(self):
        fragments = MessageFragments()
        fragments.add(fragment(1))
        with pytest.raises(ValidationFailed) as refused:
            fragments.add(fragment(3))
        assert refused.value.code == "invalid_chunk"
        with pytest.raises(ValidationFailed):
            fragments.add(fragment(2))  # the message was dropped: it must start again at 1

    def test_at_most_four_messages_are_collected_at_once(self):
        fragments = MessageFragments()
        for key in "abcd":
            fragments.add(fragment(1, idempotencyKey=key))
        with pytest.raises(ValidationFailed) as refused:
            fragments.add(fragment(1, idempotencyKey="e"))
        assert refused.value.code == "too_many_fragments"

    def test_the_whole_message_is_held_to_the_character_limit(self, settings):
        settings.CHAT_MAX_MESSAGE_CHARS = 10
        fragments = MessageFragments()
        fragments.add(fragment(1))
        with pytest.raises(ValidationFailed) as refused:
            fragments.add(fragment(2))
        assert refused.value.as_dict() == {
            "error": "The message is longer than 10 characters.",
            "code": "message_too_long",
            "maxChars": 10,
        }
