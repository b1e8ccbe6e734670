"""``manage.py dynamodb_local_restore``: load saved data into a freshly started bare ``moto_server``.

``manage.py dynamodb_local --data DIR`` (make dev) restores by itself; this is for a moto server started otherwise.
"""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from config.dynamodb.local_server import JOURNAL_NAME, SNAPSHOT_NAME
from config.dynamodb.local_store import LocalDynamoDBError, restore
from config.env import env_str


class Command(BaseCommand):
    help = (
        "Replay the saved snapshot and journal of the local DynamoDB into a freshly started moto_server, write a "
        "new snapshot and start journaling. moto_server must run with MOTO_RECORDER_FILEPATH=<var dir>/"
        f"{JOURNAL_NAME}. See docs/local-development.md."
    )

    def add_arguments(self, parser):
        parser.add_argument("--endpoint", help="moto server URL (default: AWS_ENDPOINT_URL_DYNAMODB)")
        parser.add_argument(
            "--var-dir", help="where the snapshot and journal live (default: DEV_VAR_DIR, else <project>/var)"
        )

    def handle(self, *args, endpoint: str | None = None, var_dir: str | None = None, **options):
        endpoint = endpoint or settings.DYNAMODB_ENDPOINT_URL
        if not endpoint:
            raise CommandError("No local endpoint: set AWS_ENDPOINT_URL_DYNAMODB (this never runs against AWS).")
        directory = Path(var_dir or env_str("DEV_VAR_DIR") or settings.BASE_DIR / "var")
        directory.mkdir(parents=True, exist_ok=True)
        try:
            result = restore(
                endpoint=endpoint,
                region=settings.AWS_REGION,
                snapshot_path=directory / SNAPSHOT_NAME,
                journal_path=directory / JOURNAL_NAME,
            )
        except LocalDynamoDBError as exc:
            raise CommandError(str(exc)) from exc

        self.stdout.write(
            f"  restored {result.tables} tables, {result.items} items "
            f"({result.snapshot_requests} snapshot requests, {result.journal_requests} journaled writes replayed)"
        )
        if result.journal_skipped:
            self.stdout.write("  the journal was already part of the snapshot (interrupted last start); not replayed")
        if result.journal_refused:
            self.stdout.write(
                f"  {result.journal_refused} replayed writes were refused again, as they were the first time "
                "(e.g. a failed condition)"
            )
        if result.journal_damaged:
            self.stdout.write(
                self.style.WARNING("  the journal held a partly written request (hard kill); it was skipped")
            )
