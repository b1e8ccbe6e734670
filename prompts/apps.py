from django.apps import AppConfig


class PromptsConfig(AppConfig):
    name = "prompts"
    verbose_name = "Engine types"
    # DynamoDB tables this app owns; config.dynamodb.tables.all_models() collects them.
    dynamodb_models = ("prompts.models.EngineType", "prompts.models.KnowledgeFile")
