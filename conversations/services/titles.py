"""Conversation titles: after the first exchange, a short title from a cheap model, else the message's start."""

import logging
import re

from django.conf import settings
from pynamodb.exceptions import UpdateError

from config.bedrock.client import ModelRequest, model_backend
from config.bedrock.tokens import tokens_estimate
from config.dynamodb.transactions import condition_failed
from config.errors import ApplicationError
from conversations.models import Conversation
from usage.services import quota_release, quota_reserve, usage_record

logger = logging.getLogger(__name__)

# Shorter than a stored title may be (conversations.models.TITLE_MAX_CHARS): the SPA's list shows one line.
MODEL_TITLE_MAX_CHARS = 80
FALLBACK_TITLE_CHARS = 50
TITLE_MAX_TOKENS = 40
QUESTION_MAX_CHARS = 2_000
TITLE_INSTRUCTION = (
    "You name chat conversations. Reply with a title of at most eight words for the conversation that starts with "
    "the user's message below, in the language of that message. Reply with the title only: no quotes, no "
    "punctuation at the end, no explanation."
)
# Titles the model and the user may replace; a title the user chose is never overwritten.
REPLACEABLE_SOURCES = ("default", "message")


def title_fallback(message: str) -> str:
    """The message's start on one line: a new conversation's title until (or unless) the model names it."""
    return " ".join(message.split())[:FALLBACK_TITLE_CHARS]


def title_clean(text: str) -> str:
    """One line, without the quotes or "Title:" prefix models like to add, at most ``MODEL_TITLE_MAX_CHARS``."""
    line = next((line for line in text.strip().splitlines() if line.strip()), "")
    line = re.sub(r"^\s*(title|제목)\s*[:\uff1a]\s*", "", line, flags=re.IGNORECASE)
    line = line.strip().strip("\"'`*#\u2018\u2019\u201c\u201d").strip().rstrip(".。")
    return line[:MODEL_TITLE_MAX_CHARS].strip()


def title_from_model(*, user_id: str, engine_type: str, message: str, is_staff: bool) -> str:
    """Ask the title model; its usage is counted (``kind="title"``) against the user's allowance."""
    request = ModelRequest(
        model_id=settings.BEDROCK_TITLE_MODEL_ID,
        system_text=TITLE_INSTRUCTION,
        messages=[{"role": "user", "text": message[:QUESTION_MAX_CHARS]}],
        max_tokens=TITLE_MAX_TOKENS,
        temperature=0.2,
    )
    reservation = quota_reserve(
        user_id=user_id,
        engine_type=engine_type,
        estimated_input_tokens=tokens_estimate(TITLE_INSTRUCTION) + tokens_estimate(request.messages[0]["text"]),
        max_output_tokens=TITLE_MAX_TOKENS,
        is_staff=is_staff,
    )
    try:
        text, usage = model_backend().complete(request)
    except Exception:
        quota_release(reservation=reservation)
        raise
    usage_record(
        reservation=reservation,
        model_id=request.model_id,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        cache_write_tokens=usage.cache_write_tokens,
        kind="title",
    )
    return title_clean(text)


def conversation_title_generate(
    *, user_id: str, conversation_id: str, engine_type: str, message: str, is_staff: bool
) -> tuple[str, str] | None:
    """Title a new conversation after its first exchange: ``(title, source)``, or None if the user named it."""
    title, source = "", "model"
    try:
        title = title_from_model(user_id=user_id, engine_type=engine_type, message=message, is_staff=is_staff)
    except ApplicationError as exc:
        logger.info("title model unavailable for %s (%s); using the message", conversation_id, exc.code)
    except Exception:
        logger.exception("title generation failed for %s; using the message", conversation_id)
    if not title:
        title, source = title_fallback(message), "message"
    try:
        Conversation(user_id, conversation_id).update(
            actions=[Conversation.title.set(title), Conversation.title_source.set(source)],
            condition=Conversation.title_source.is_in(*REPLACEABLE_SOURCES)
            | Conversation.title_source.does_not_exist(),
            add_version_condition=False,
        )
    except UpdateError as exc:
        if condition_failed(exc):
            return None  # renamed by the user meanwhile
        raise
    return title, source
