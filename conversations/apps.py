from django.apps import AppConfig


class ConversationsConfig(AppConfig):
    name = "conversations"
    # DynamoDB tables this app owns, in creation order; config.dynamodb.tables.all_models() collects them.
    dynamodb_models = (
        "conversations.models.Conversation",
        "conversations.models.Message",
        "conversations.models.Feedback",
        "conversations.models.IdempotencyRecord",
        "conversations.models.ActiveGenerations",
    )
