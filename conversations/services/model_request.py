"""A turn's model request: the engine type's system prompt, the stored history as turns, the new message."""

from django.conf import settings

from config.bedrock.client import ModelRequest
from config.bedrock.tokens import tokens_estimate
from conversations.models import Message
from prompts.services import EngineTypeConfig


def history_turns(messages: list[Message], *, max_turns: int, token_budget: int) -> list[dict]:
    """Stored messages as alternating ``{"role", "text"}`` turns for the model.

    Only answered exchanges count: a user message whose answer failed (or is missing) is left out with it, so the
    turns always alternate. The newest ``max_turns`` exchanges are kept, then as many as fit ``token_budget``.
    """
    pairs: list[tuple[str, str]] = []
    pending_user: str | None = None
    for message in messages:
        if message.role == "user":
            pending_user = message.content
        elif pending_user is not None and message.status in ("complete", "stopped", "interrupted") and message.content:
            pairs.append((pending_user, message.content))
            pending_user = None
        else:
            pending_user = None
    kept: list[tuple[str, str]] = []
    spent = 0
    for user_text, answer in reversed(pairs[-max_turns:] if max_turns > 0 else []):
        spent += tokens_estimate(user_text) + tokens_estimate(answer)
        if spent > token_budget:
            break
        kept.append((user_text, answer))
    turns: list[dict] = []
    for user_text, answer in reversed(kept):
        turns += [{"role": "user", "text": user_text}, {"role": "assistant", "text": answer}]
    return turns


def model_request_build(*, message: str, config: EngineTypeConfig, history: list[Message]) -> tuple[ModelRequest, int]:
    """The model request (before any quota clamp) and its estimated input tokens."""
    turns = history_turns(
        history, max_turns=settings.CHAT_HISTORY_MAX_TURNS, token_budget=settings.CHAT_HISTORY_TOKEN_BUDGET
    )
    model_request = ModelRequest(
        model_id=config.model_id,
        system_text=config.system_text,
        messages=[*turns, {"role": "user", "text": message}],
        max_tokens=config.max_tokens,
        temperature=config.temperature,
        top_p=config.top_p,
    )
    estimate = tokens_estimate(config.system_text) + sum(tokens_estimate(m["text"]) for m in model_request.messages)
    return model_request, estimate
