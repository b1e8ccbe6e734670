"""The model request of a turn: the stored history as alternating turns, within a count and a token budget."""

from config.bedrock.tokens import tokens_estimate
from config.clock import utcnow
from conversations.models import Message
from conversations.services.model_request import history_turns, model_request_build
from prompts.services import EngineTypeConfig


def msg(role, content, status="complete"):
    return Message("k", f"{len(content):013d}-x", role=role, content=content, status=status, created_at=utcnow())


class TestHistoryTurns:
    def test_alternating_turns_skip_failed_and_unanswered_exchanges(self):
        messages = [
            msg("user", "q1"),
            msg("assistant", "a1"),
            msg("user", "q2"),
            msg("assistant", "", status="error"),
            msg("user", "q3 (no answer: crashed)"),
            msg("user", "q4"),
            msg("assistant", "a4 partial", status="stopped"),
        ]
        assert history_turns(messages, max_turns=10, token_budget=10_000) == [
            {"role": "user", "text": "q1"},
            {"role": "assistant", "text": "a1"},
            {"role": "user", "text": "q4"},
            {"role": "assistant", "text": "a4 partial"},
        ]

    def test_keeps_the_newest_turns_within_count_and_token_budget(self):
        messages = []
        for i in range(5):
            messages += [msg("user", f"q{i}" + "x" * 30), msg("assistant", f"a{i}" + "y" * 30)]
        texts = [t["text"][:2] for t in history_turns(messages, max_turns=3, token_budget=10_000)]
        assert texts == ["q2", "a2", "q3", "a3", "q4", "a4"]
        # Each exchange is ~22 estimated tokens: a budget of 50 keeps the newest two.
        texts = [t["text"][:2] for t in history_turns(messages, max_turns=10, token_budget=50)]
        assert texts == ["q3", "a3", "q4", "a4"]
        assert history_turns(messages, max_turns=0, token_budget=10_000) == []


def test_the_request_carries_the_engine_types_settings_and_its_input_is_estimated():
    config = EngineTypeConfig(
        engine_type="11",
        name="Press",
        revision=3,
        active=True,
        model_id="model-x",
        temperature=0.5,
        top_p=0.9,
        max_tokens=1_000,
        system_text="You write press releases.",
    )
    history = [msg("user", "q1"), msg("assistant", "a1")]

    request, estimate = model_request_build(message="Next?", config=config, history=history)

    assert (request.model_id, request.system_text, request.max_tokens) == ("model-x", config.system_text, 1_000)
    assert (request.temperature, request.top_p) == (0.5, 0.9)
    assert request.messages == [
        {"role": "user", "text": "q1"},
        {"role": "assistant", "text": "a1"},
        {"role": "user", "text": "Next?"},
    ]
    assert estimate == sum(map(tokens_estimate, [config.system_text, "q1", "a1", "Next?"]))
