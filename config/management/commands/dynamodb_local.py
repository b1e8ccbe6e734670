"""``manage.py dynamodb_local``: the local DynamoDB of ``make dev``, the server tests and the benchmark.

moto's server app behind a front that applies one request at a time (config/dynamodb/local_server.py), so it is
as atomic under concurrency as DynamoDB. With ``--data`` the previous run's data is restored first and every
request is journaled (config/dynamodb/local_store.py). Serves until SIGTERM or SIGINT. docs/local-development.md.
"""

import logging
import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from config.dynamodb.local_server import LocalDynamoDB
from config.dynamodb.local_store import LocalDynamoDBError

READY_LINE = "dynamodb_local ready on"  # printed (and flushed) once the port accepts requests


class Command(BaseCommand):
    help = (
        "Serve a local DynamoDB (moto, requests serialised so it is atomic under concurrency) until SIGTERM. "
        "With --data DIR, restore the data kept in DIR and journal every request there."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
        parser.add_argument("--port", type=int, default=5005, help="port to listen on; 0 picks a free one")
        parser.add_argument("--data", help="directory of the snapshot and journal that keep the data across runs")
        parser.add_argument(
            "--latency-ms",
            type=float,
            default=0.0,
            help="added to every request outside the serialised section, like DynamoDB's network round trip",
        )

    def handle(self, *args, host: str, port: int, data: str | None, latency_ms: float, **options):
        # werkzeug logs a line per request; only on -v 2, as the benchmark's request rate would pay for it.
        logging.getLogger("werkzeug").setLevel(logging.INFO if options["verbosity"] > 1 else logging.WARNING)
        if latency_ms < 0:
            raise CommandError("--latency-ms cannot be negative")
        store = LocalDynamoDB(
            host=host,
            port=port,
            region=settings.AWS_REGION,
            data_dir=Path(data).resolve() if data else None,
            latency_seconds=latency_ms / 1000,
        )
        try:
            restored = store.start()
        except (LocalDynamoDBError, OSError) as exc:
            raise CommandError(f"the local DynamoDB did not start: {exc}") from exc
        if restored is not None:
            self.stdout.write(
                f"  restored {restored.tables} tables, {restored.items} items "
                f"({restored.snapshot_requests} snapshot requests, {restored.journal_requests} journaled writes)"
            )
            if restored.journal_skipped:
                self.stdout.write("  the journal was already part of the snapshot (interrupted last start)")
            if restored.journal_damaged:
                self.stdout.write(self.style.WARNING("  the journal held a partly written request (hard kill)"))
        self.stdout.write(f"{READY_LINE} {store.endpoint}")
        sys.stdout.flush()
        store.serve_until_signalled()
        self.stdout.write("dynamodb_local stopped")
