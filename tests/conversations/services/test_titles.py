"""Conversation titles: cheap-model title after the first exchange, fallback, user titles kept, usage counted."""

import pytest

from config.clock import utcnow
from conversations.models import Conversation
from conversations.services import conversation_create, conversation_rename
from conversations.services.titles import conversation_title_generate, title_clean, title_fallback
from usage.models import DailyUsage


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ('"Bond basics explained."', "Bond basics explained"),
        ("Title: Quarterly results\nExtra explanation", "Quarterly results"),
        ("제목: 금리 인상 보도자료", "금리 인상 보도자료"),
        ("x" * 200, "x" * 80),
    ],
)
def test_title_clean(raw, clean):
    assert title_clean(raw) == clean


def test_fallback_is_the_first_50_characters_on_one_line():
    assert title_fallback("  What is\na bond " + "z" * 100) == ("What is a bond " + "z" * 100)[:50]


def test_title_from_the_title_model_is_saved_and_counted(fake_bedrock, settings):
    fake_bedrock.converse('"Bond basics"', input_tokens=30, output_tokens=3)
    conversation_create(user_id="local:1", engine_type="11", conversation_id="c1")
    result = conversation_title_generate(
        user_id="local:1", conversation_id="c1", engine_type="11", message="What is a bond?", is_staff=False
    )
    assert result == ("Bond basics", "model")
    stored = Conversation.get("local:1", "c1")
    assert (stored.title, stored.title_source) == ("Bond basics", "model")
    call = fake_bedrock.calls[0]
    assert (call.operation, call.model_id) == ("Converse", settings.BEDROCK_TITLE_MODEL_ID)
    assert call.body["messages"][0]["content"][0]["text"] == "What is a bond?"
    daily = DailyUsage.get("local:1", f"{utcnow().date().isoformat()}#11")
    assert (daily.title_count, daily.title_tokens, daily.message_count) == (1, 33, 0)


def test_model_failure_falls_back_to_the_message(fake_bedrock):
    for _attempt in range(10):  # more than botocore's retries
        fake_bedrock.error("ServiceUnavailableException", status=503, operation="Converse")
    conversation_create(user_id="local:1", engine_type="11", conversation_id="c1")
    message = "Please write a press release about the new savings account " * 2
    result = conversation_title_generate(
        user_id="local:1", conversation_id="c1", engine_type="11", message=message, is_staff=False
    )
    assert result == (message[:50], "message")
    assert Conversation.get("local:1", "c1").title == message[:50]


def test_a_title_the_user_chose_is_never_overwritten(fake_bedrock):
    conversation_create(user_id="local:1", engine_type="11", conversation_id="c1")
    conversation_rename(user_id="local:1", conversation_id="c1", title="My own title")
    result = conversation_title_generate(
        user_id="local:1", conversation_id="c1", engine_type="11", message="What is a bond?", is_staff=False
    )
    assert result is None
    assert Conversation.get("local:1", "c1").title == "My own title"
