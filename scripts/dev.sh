#!/usr/bin/env bash
# The local stack, offline (`make dev`): the local DynamoDB (manage.py dynamodb_local) with the previous run's data,
# tables + demo engine types + SQLite + a local superuser, then Django's (daphne) runserver.
# Ctrl-C (or SIGTERM) stops everything this script started. See docs/local-development.md.
set -euo pipefail
cd "$(dirname "$0")/.."

# Optional .env (KEY=VALUE lines); a variable already set in the environment wins over the file.
if [[ -f .env ]]; then
  while IFS='=' read -r key value || [[ -n "$key" ]]; do
    [[ "$key" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || continue
    [[ -n "${!key+set}" ]] || export "$key=$value"
  done < .env
fi

PY=${PY:-.venv/bin/python}
PORT=${PORT:-8000}
MOTO_PORT=${MOTO_PORT:-5005}
VAR_DIR=${DEV_VAR_DIR:-var}
mkdir -p "$VAR_DIR"
VAR_DIR=$(cd "$VAR_DIR" && pwd)

export DJANGO_SETTINGS_MODULE=config.settings.local
export DEV_VAR_DIR="$VAR_DIR"
export DJANGO_DATABASE_PATH=${DJANGO_DATABASE_PATH:-$VAR_DIR/db.sqlite3}
export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$MOTO_PORT"
if [[ "${BEDROCK_MODE:-fake}" == "bedrock" ]]; then
  # Real Bedrock with the developer's own AWS credentials; moto accepts any credentials for DynamoDB.
  if ! "$PY" -c 'import boto3, sys; sys.exit(boto3.Session().get_credentials() is None)'; then
    echo "BEDROCK_MODE=bedrock needs AWS credentials (env, ~/.aws or SSO); unset BEDROCK_MODE for the fake model." >&2
    exit 1
  fi
  echo "Using real Amazon Bedrock with your AWS credentials (DynamoDB stays local)."
else
  export BEDROCK_MODE=fake
  # Fake credentials: nothing in this stack can reach a real AWS account.
  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
  unset AWS_SESSION_TOKEN AWS_PROFILE AWS_SECURITY_TOKEN
fi

moto_pid=""
server_pid=""
stop() {
  trap - INT TERM EXIT
  local pids="$server_pid $moto_pid" pid alive watchdog
  [[ -n "${pids// /}" ]] || return 0
  # Each child runs in its own process group (set -m below), so the group takes runserver's autoreload child along.
  for pid in $pids; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  ( sleep 5; for pid in $pids; do kill -KILL -- "-$pid" 2>/dev/null; done ) &
  watchdog=$!
  wait $pids 2>/dev/null || true
  for _ in $(seq 50); do
    alive=""
    for pid in $pids; do kill -0 -- "-$pid" 2>/dev/null && alive=1; done
    [[ -z "$alive" ]] && break
    sleep 0.1
  done
  kill -- "-$watchdog" 2>/dev/null || true
}
on_signal() {
  echo
  echo "Stopping the local stack..."
  stop
  exit 130
}
trap on_signal INT TERM
trap stop EXIT
set -m

echo "Starting the local DynamoDB on 127.0.0.1:$MOTO_PORT (data: $VAR_DIR, log: $VAR_DIR/moto.log)"
# moto behind a front that applies one request at a time (atomic like DynamoDB); it restores the previous run's
# data from $VAR_DIR before its port opens, and journals every request there.
"$PY" manage.py dynamodb_local --host 127.0.0.1 --port "$MOTO_PORT" --data "$VAR_DIR" >"$VAR_DIR/moto.log" 2>&1 &
moto_pid=$!

for _ in $(seq 300); do
  if ! kill -0 "$moto_pid" 2>/dev/null; then
    echo "the local DynamoDB exited; is port $MOTO_PORT in use? (set MOTO_PORT). Its log:" >&2
    tail -n 20 "$VAR_DIR/moto.log" >&2
    exit 1
  fi
  "$PY" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' \
    "$AWS_ENDPOINT_URL_DYNAMODB/moto-api/data.json" 2>/dev/null && break
  sleep 0.1
done

# The same as `manage.py <step>` for each step, in one process to save Django's start-up time per step.
"$PY" - <<'PYTHON'
import django
from django.core.management import call_command

django.setup()
for step, *arguments in (
    ["create_tables"],
    ["seed"],
    ["migrate", "--no-input", "--verbosity", "0"],  # SQLite: Django's auth, sessions and admin
    ["ensure_dev_superuser"],
):
    print(f"manage.py {step}")
    call_command(step, *arguments)
PYTHON

echo "Serving http://127.0.0.1:$PORT/ (admin: /admin/, health: /healthz); Ctrl-C stops everything."
"$PY" manage.py runserver "127.0.0.1:$PORT" &
server_pid=$!
wait "$server_pid"
