"""The preview of the system prompt: its text, token count (Bedrock CountTokens or an estimate) and cost."""

from decimal import Decimal

from config.bedrock.tokens import tokens_estimate
from prompts.services import engine_type_update, knowledge_file_add
from prompts.system_prompt import engine_type_config_get, engine_type_preview
from usage.pricing import price_for


def test_preview_counts_tokens_with_bedrock_when_it_answers(engine, fake_bedrock, settings):
    settings.BEDROCK_DEFAULT_MODEL_ID = "us.anthropic.claude-sonnet-4-20250514-v1:0"
    fake_bedrock.count_tokens(1234)

    preview = engine_type_preview(engine_type="11")

    assert (preview.token_count, preview.token_count_exact) == (1234, True)
    [body] = fake_bedrock.requests("CountTokens")
    assert body["input"]["converse"]["system"] == [{"text": preview.config.system_text}]
    price = price_for("us.anthropic.claude-sonnet-4-20250514-v1:0")
    assert preview.input_cost_usd == Decimal(1234) * price.input_per_1k / 1000
    assert preview.cache_read_cost_usd == Decimal(1234) * price.cache_read_per_1k / 1000
    assert preview.price_version == price.version


def test_preview_falls_back_to_a_labelled_estimate_when_count_tokens_fails(engine, fake_bedrock):
    fake_bedrock.error("AccessDeniedException", status=403, operation="CountTokens")

    preview = engine_type_preview(engine_type="11")

    assert preview.token_count_exact is False
    assert preview.token_count == tokens_estimate(preview.config.system_text)


def test_offline_mode_uses_the_estimate(engine, settings):
    settings.BEDROCK_MODE = "fake"

    preview = engine_type_preview(engine_type="11")

    assert preview.token_count_exact is False
    assert preview.token_count == tokens_estimate(preview.config.system_text)


def test_unpriced_models_cost_nothing_and_say_so(engine):
    engine_type_update(engine_type="11", model_id="example.unknown-model-v1:0")

    preview = engine_type_preview(engine_type="11")

    assert preview.price_version == "unpriced"
    assert preview.input_cost_usd == 0


def test_preview_is_what_the_next_message_gets(engine):
    knowledge_file_add(engine_type="11", file_name="facts.txt", content="The facts.")

    assert engine_type_preview(engine_type="11").config == engine_type_config_get(engine_type="11")
