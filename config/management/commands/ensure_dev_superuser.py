"""``manage.py ensure_dev_superuser``: a local staff superuser for the admin, created once by ``make dev``."""

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from config.env import env_str


class Command(BaseCommand):
    help = (
        "Create a local superuser if none exists (DEBUG only). Credentials come from DEV_ADMIN_USERNAME / "
        "DEV_ADMIN_PASSWORD; without a password one is generated and printed once."
    )

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("ensure_dev_superuser is for the local stack only (DJANGO_DEBUG is off).")
        users = get_user_model().objects
        existing = users.filter(is_superuser=True).order_by("pk").first()
        if existing is not None:
            self.stdout.write(f"  superuser {existing.get_username()!r} exists")
            return
        username = env_str("DEV_ADMIN_USERNAME", "admin")
        password = env_str("DEV_ADMIN_PASSWORD")
        generated = not password
        if generated:
            password = secrets.token_urlsafe(12)
        users.create_superuser(username=username, email="", password=password)
        if generated:
            self.stdout.write(
                self.style.WARNING(
                    f"  Created local superuser {username!r} with password {password!r}. It is shown only now; "
                    "set DEV_ADMIN_PASSWORD to choose your own (or run `manage.py changepassword`)."
                )
            )
        else:
            self.stdout.write(
                self.style.SUCCESS(f"  Created local superuser {username!r} (password from DEV_ADMIN_PASSWORD)")
            )
