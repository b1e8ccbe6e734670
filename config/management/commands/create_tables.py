"""``manage.py create_tables [--check]``: the DynamoDB tables of every model (replaces 01-setup-dynamodb.sh)."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from config.dynamodb.provisioning import TableReport, table_ensure, table_inspect
from config.dynamodb.tables import all_models, connection


class Command(BaseCommand):
    help = (
        "Create missing DynamoDB tables, indexes and TTL settings (on-demand billing); safe to run again. "
        "With --check, change nothing and exit non-zero when the tables differ from the models."
    )

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true", help="only report drift; exit 1 if there is any")

    def handle(self, *args, check: bool = False, **options):
        endpoint = settings.DYNAMODB_ENDPOINT_URL or f"AWS DynamoDB in {settings.AWS_REGION}"
        self.stdout.write(f"{'Checking' if check else 'Ensuring'} {len(all_models())} tables at {endpoint}")
        client = connection().client  # one client: creating a botocore client costs more than the calls
        reports = [table_inspect(model, client) if check else table_ensure(model, client) for model in all_models()]
        for report in reports:
            self._print(report)

        drifted = [r.table_name for r in reports if not r.ok]
        if drifted:
            advice = (
                "run `manage.py create_tables` to create what is missing"
                if check
                else "these differences need an operator (the data would have to move)"
            )
            raise CommandError(f"{len(drifted)} table(s) differ from the models: {', '.join(drifted)}; {advice}.")
        self.stdout.write(self.style.SUCCESS("All tables match the models."))

    def _print(self, report: TableReport) -> None:
        if report.created:
            state = self.style.SUCCESS("created")
        elif not report.ok:
            state = self.style.ERROR("DRIFT")
        elif report.actions:
            state = self.style.SUCCESS("updated")
        else:
            state = "ok"
        self.stdout.write(f"  {report.table_name}: {state}")
        for line in report.actions:
            self.stdout.write(f"    + {line}")
        for line in report.problems:
            self.stdout.write(f"    ! {line}")
        for line in report.notes:
            self.stdout.write(f"    ~ {line}")
