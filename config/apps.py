from django.apps import AppConfig


class ConfigConfig(AppConfig):
    """The project package as an app, so its management commands (create_tables, ...) are found."""

    name = "config"
    verbose_name = "Project"

    def ready(self) -> None:
        from config.auth.cognito import cognito_status_log

        cognito_status_log()
