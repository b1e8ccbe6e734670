from django.apps import AppConfig


class UsageConfig(AppConfig):
    name = "usage"
    # DynamoDB tables this app owns; config.dynamodb.tables.all_models() collects them.
    dynamodb_models = (
        "usage.models.DailyUsage",
        "usage.models.MonthlyUsage",
        "usage.models.UsageReservation",
        "usage.models.UserPlan",
    )
