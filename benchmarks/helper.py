"""The benchmark's data helper: a Django process that prepares data straight on moto server (not via the proxy).

Run by the runner as ``python -m benchmarks.helper`` with the server's settings. It reads one JSON command per
stdin line and answers one ``{"ok": ..., "result"|"error": ...}`` line on stdout, so its own DynamoDB traffic
never appears in the counts and the runner needs no Django of its own.

Commands: ``setup`` (migrate the SQLite auth database, create tables and seed with the project's management
commands), ``reset`` (wipe moto, then ``setup`` again), ``users`` (Django accounts with logged-in sessions, as
``Client.login`` would leave them), ``touch`` (bump an engine type's revision with ``prompt_touch``: the next
turn misses the prompt cache), ``seed_conversations`` (conversation heads written with BatchWriteItem),
``turn_cpu`` (the CPU one turn's DynamoDB work costs this process, stage by stage, turns run one after another),
``quit``.
"""

import io
import json
import sys
import time
import urllib.request
from contextlib import redirect_stdout
from datetime import timedelta

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model  # noqa: E402
from django.contrib.auth.hashers import make_password  # noqa: E402
from django.contrib.sessions.backends.db import SessionStore  # noqa: E402
from django.contrib.sessions.models import Session  # noqa: E402
from django.core.management import call_command, get_commands  # noqa: E402
from django.utils import timezone  # noqa: E402

from config.auth.identity import owner_id  # noqa: E402
from config.bedrock.events import StreamUsage  # noqa: E402
from config.clock import utcnow  # noqa: E402
from config.dynamodb.tables import all_models, clients_build  # noqa: E402
from conversations.ids import new_conversation_id  # noqa: E402
from conversations.models import Conversation  # noqa: E402
from conversations.services.titles import conversation_title_generate  # noqa: E402
from conversations.services.turn_begin import turn_begin  # noqa: E402
from conversations.services.turn_finish import turn_finish  # noqa: E402
from conversations.services.turn_types import TurnOutcome, TurnRequest  # noqa: E402
from prompts.models import EngineType  # noqa: E402
from prompts.selectors import engine_type_list  # noqa: E402
from prompts.services import engine_type_touch  # noqa: E402

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def setup() -> dict:
    """The same steps as the dev stack: migrate, create tables, seed; every step says how it was done."""
    steps = {}
    call_command("migrate", verbosity=0, interactive=False)
    steps["migrate"] = "manage.py migrate"
    available = get_commands()
    if "create_tables" in available:
        call_command("create_tables")
        steps["create_tables"] = "manage.py create_tables"
    else:
        # Until the foundation's command exists: the same tables, straight from the models.
        for model in all_models():
            if not model.exists():
                model.create_table(wait=True)
        steps["create_tables"] = "fallback: Model.create_table for config.dynamodb.tables.all_models()"
    if "seed" in available:
        call_command("seed")
        steps["seed"] = "manage.py seed"
    if not engine_type_list():
        now = utcnow()
        EngineType("11", name="Benchmark engine", instruction="Answer briefly.", created_at=now, updated_at=now).save()
        steps["seed"] = steps.get("seed", "") + " + fallback: one engine type '11'"
    engines = [{"engine_type": p.engine_type, "revision": int(p.revision)} for p in engine_type_list()]
    return {"steps": steps, "engines": engines}


def reset() -> dict:
    """Wipe moto (every table) and set the tables and seed data up again."""
    url = f"{settings.DYNAMODB_ENDPOINT_URL}/moto-api/reset"
    request = urllib.request.Request(url, method="POST")  # noqa: S310 - the local endpoint, checked at start
    with urllib.request.urlopen(request, timeout=30):  # noqa: S310 - the local endpoint, checked at start
        pass
    return setup()


def users(*, prefix: str, count: int) -> list[dict]:
    """Accounts without a usable password, each with a stored login session (cookie value = session key)."""
    user_model = get_user_model()
    unusable = make_password(None)
    user_model.objects.bulk_create(
        [user_model(username=f"{prefix}{i}", password=unusable) for i in range(count)], ignore_conflicts=True
    )
    accounts = list(user_model.objects.filter(username__startswith=prefix).order_by("pk")[:count])
    expires = timezone.now() + timedelta(days=1)
    sessions, out = [], []
    for account in accounts:
        store = SessionStore()
        key = store._get_new_session_key()
        data = {
            SESSION_KEY: str(account.pk),
            BACKEND_SESSION_KEY: MODEL_BACKEND,
            HASH_SESSION_KEY: account.get_session_auth_hash(),
        }
        sessions.append(Session(session_key=key, session_data=store.encode(data), expire_date=expires))
        out.append({"username": account.username, "owner_id": owner_id(account), "session": key})
    Session.objects.bulk_create(sessions)
    return out


def touch(*, engine: str) -> dict:
    engine_type_touch(engine_type=engine, updated_by="benchmark")
    return {"revision": int(EngineType.get(engine).revision)}


def seed_conversations(*, user_id: str, engine: str, count: int) -> dict:
    started = time.monotonic()
    base = utcnow()
    with Conversation.batch_write() as batch:
        for i in range(count):
            at = base - timedelta(seconds=count - i)
            batch.save(
                Conversation(
                    user_id,
                    new_conversation_id(),
                    engine_type=engine,
                    user_engine=f"{user_id}#{engine}",
                    title=f"Seeded conversation {i}",
                    created_at=at,
                    updated_at=at,
                )
            )
    return {"count": count, "seconds": round(time.monotonic() - started, 3)}


TURN_CPU_WARMUP = 5


def turn_cpu(*, engine: str, count: int, message: str, answer_tokens: int) -> dict:
    """CPU milliseconds per turn of each stage the server runs in its I/O pool, for new conversations of new
    users (a cold plan cache, as in the load levels), one turn at a time: the floor of what a turn costs the
    server's one core before any contention, and before its frames."""
    clients_build()
    stages = {"begin": 0.0, "finish": 0.0, "title": 0.0}
    content = " ".join(["lorem"] * answer_tokens)
    usage = StreamUsage(input_tokens=30, output_tokens=answer_tokens)
    for i in range(TURN_CPU_WARMUP + count):
        user_id = f"turn-cpu-{i}-{time.monotonic_ns()}"
        request = TurnRequest(
            user_id=user_id,
            is_staff=False,
            engine_type=engine,
            message=message,
            conversation_id=new_conversation_id(),
            idempotency_key=f"turn-cpu-{i}",
        )
        began = time.process_time()
        turn = turn_begin(request=request)
        begun = time.process_time()
        outcome = TurnOutcome(status="complete", content=content, stop_reason="end_turn", usage=usage)
        turn_finish(turn=turn, outcome=outcome)
        finished = time.process_time()
        conversation_title_generate(
            user_id=user_id, conversation_id=turn.conversation_id, engine_type=engine, message=message, is_staff=False
        )
        titled = time.process_time()
        if i >= TURN_CPU_WARMUP:
            stages["begin"] += begun - began
            stages["finish"] += finished - begun
            stages["title"] += titled - finished
    per_turn = {f"{name}_ms": round(total / count * 1000, 2) for name, total in stages.items()}
    return {"turns": count, **per_turn, "total_ms": round(sum(stages.values()) / count * 1000, 2)}


COMMANDS = {
    "setup": setup,
    "reset": reset,
    "users": users,
    "touch": touch,
    "seed_conversations": seed_conversations,
    "turn_cpu": turn_cpu,
}


def main() -> None:
    out = sys.stdout
    for line in sys.stdin:
        command = json.loads(line)
        name = command.pop("command")
        if name == "quit":
            break
        try:
            # Management commands print progress; only answer lines may reach the runner.
            with redirect_stdout(io.StringIO()):
                reply = {"ok": True, "result": COMMANDS[name](**command)}
        except Exception as exc:
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(reply) + "\n")
        out.flush()


if __name__ == "__main__":
    if settings.DYNAMODB_ENDPOINT_URL is None or "127.0.0.1" not in settings.DYNAMODB_ENDPOINT_URL:
        raise SystemExit("the benchmark helper only talks to a local DynamoDB endpoint on 127.0.0.1")
    main()
