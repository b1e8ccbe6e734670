"""Settings shared by every environment. Everything an operator can change is read from the environment."""

import contextlib
from pathlib import Path

from config.env import env_bool, env_float, env_int, env_list, env_str
from config.streams.layers import channel_layers_config

BASE_DIR = Path(__file__).resolve().parent.parent.parent

INSECURE_DEV_SECRET_KEY = "dev-insecure-secret-key-change-me"
SECRET_KEY = env_str("DJANGO_SECRET_KEY", INSECURE_DEV_SECRET_KEY)
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")

INSTALLED_APPS = [
    # First, so its runserver (daphne's, serving config/asgi_server.py's ChatServer) wins over daphne's own.
    "config",
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "conversations",
    "prompts",
    "usage",
]

MIDDLEWARE = [
    "config.request_logging.RequestLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",  # Accept-Language -> the language of messages
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Only Django's own auth/sessions/admin tables live here; domain data is in DynamoDB.
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": env_str("DJANGO_DATABASE_PATH", str(BASE_DIR / "var" / "db.sqlite3")),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# A fresh clone has no var/ yet: create the SQLite file's folder, so any manage.py command works on its own.
with contextlib.suppress(OSError):  # a read-only image: SQLite's own error names the path
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# The language of messages when a request's Accept-Language names none of LANGUAGES (REST and the WebSocket).
LANGUAGE_CODE = env_str("DJANGO_LANGUAGE_CODE", "en")
LANGUAGES = [("en", "English"), ("ko", "한국어")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# daphne serves no static files itself: WhiteNoise serves the chat page's JS, the admin's and Swagger UI's assets.
# Finders let it serve straight from the apps, so `collectstatic` is an optional optimisation, not a deploy step.
WHITENOISE_USE_FINDERS = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
LOGIN_URL = "/admin/login/"

# --- AWS / DynamoDB -------------------------------------------------------------------------
AWS_REGION = env_str("AWS_REGION", "us-east-1")
# botocore's own variable; unset means the real regional DynamoDB endpoint.
DYNAMODB_ENDPOINT_URL = env_str("AWS_ENDPOINT_URL_DYNAMODB")
DYNAMODB_TABLE_PREFIX = env_str("DYNAMODB_TABLE_PREFIX", "chat-")
DYNAMODB_MAX_POOL_CONNECTIONS = env_int("DYNAMODB_MAX_POOL_CONNECTIONS", 64)
# Build the tables' botocore clients when the ASGI application loads, not in the first requests' race.
DYNAMODB_CLIENTS_AT_STARTUP = env_bool("DYNAMODB_CLIENTS_AT_STARTUP", True)
# Size of the thread pool that runs PynamoDB/boto3 calls for async code (consumers).
IO_THREADS = env_int("IO_THREADS", 64)

# --- Bedrock -----------------------------------------------------------------------------------
BEDROCK_MODE = env_str("BEDROCK_MODE", "bedrock")  # "bedrock" or "fake"
BEDROCK_REGION = env_str("BEDROCK_REGION", AWS_REGION)
BEDROCK_DEFAULT_MODEL_ID = env_str("BEDROCK_DEFAULT_MODEL_ID", "us.anthropic.claude-sonnet-4-20250514-v1:0")
BEDROCK_TITLE_MODEL_ID = env_str("BEDROCK_TITLE_MODEL_ID", "us.anthropic.claude-3-5-haiku-20241022-v1:0")
BEDROCK_MODEL_CHOICES = env_list(
    "BEDROCK_MODEL_CHOICES",
    "us.anthropic.claude-opus-4-1-20250805-v1:0,"
    "us.anthropic.claude-sonnet-4-20250514-v1:0,"
    "us.anthropic.claude-3-5-haiku-20241022-v1:0",
)
BEDROCK_DEFAULT_MAX_TOKENS = env_int("BEDROCK_DEFAULT_MAX_TOKENS", 4096)
BEDROCK_DEFAULT_TEMPERATURE = env_float("BEDROCK_DEFAULT_TEMPERATURE", 0.7)
BEDROCK_DEFAULT_TOP_P = env_float("BEDROCK_DEFAULT_TOP_P", 0.9)
BEDROCK_MAX_CONCURRENCY = env_int("BEDROCK_MAX_CONCURRENCY", 1000)
BEDROCK_MAX_RETRIES = env_int("BEDROCK_MAX_RETRIES", 3)
FAKE_MODEL_DELAY_SECONDS = env_float("FAKE_MODEL_DELAY_SECONDS", 0.03)
FAKE_MODEL_FIRST_TOKEN_DELAY_SECONDS = env_float("FAKE_MODEL_FIRST_TOKEN_DELAY_SECONDS", 0.0)
FAKE_MODEL_ANSWER_TOKENS = env_int("FAKE_MODEL_ANSWER_TOKENS", 0)  # 0 = natural answer; N = exactly N tokens
BEDROCK_CONNECT_TIMEOUT_SECONDS = env_float("BEDROCK_CONNECT_TIMEOUT_SECONDS", 5.0)
# Longest silence allowed between two stream events (for Converse: the wait for the whole answer).
BEDROCK_READ_TIMEOUT_SECONDS = env_float("BEDROCK_READ_TIMEOUT_SECONDS", 120.0)
BEDROCK_RETRY_MODE = env_str("BEDROCK_RETRY_MODE", "standard")  # botocore retry mode: "standard" or "adaptive"
# Base of the exponential backoff when an error arrives in the stream before the first token.
BEDROCK_STREAM_RETRY_BASE_SECONDS = env_float("BEDROCK_STREAM_RETRY_BASE_SECONDS", 0.5)
BEDROCK_PROMPT_CACHING = env_bool("BEDROCK_PROMPT_CACHING", True)  # cachePoint after the static system prompt
# Models that reject temperature and top_p together (substring match): top_p is left out for them.
BEDROCK_TEMPERATURE_ONLY_MODELS = env_list(
    "BEDROCK_TEMPERATURE_ONLY_MODELS", "claude-sonnet-4-5,claude-haiku-4-5,claude-opus-4-1,claude-opus-4-5"
)

# --- Chat --------------------------------------------------------------------------------------
CHAT_MAX_MESSAGE_CHARS = env_int("CHAT_MAX_MESSAGE_CHARS", 100_000)
# A message is one DynamoDB item (400 KB at most, attributes included): 100,000 emoji would not fit.
CHAT_MAX_MESSAGE_BYTES = env_int("CHAT_MAX_MESSAGE_BYTES", 350_000)
CHAT_HISTORY_MAX_TURNS = env_int("CHAT_HISTORY_MAX_TURNS", 10)
CHAT_HISTORY_TOKEN_BUDGET = env_int("CHAT_HISTORY_TOKEN_BUDGET", 20_000)
CHAT_MAX_CONCURRENT_GENERATIONS_PER_USER = env_int("CHAT_MAX_CONCURRENT_GENERATIONS_PER_USER", 3)
# Longest delay merging waiting text deltas into one ai_chunk may add while the process is behind; 0 = off.
CHAT_COALESCE_MAX_DELAY_MS = env_int("CHAT_COALESCE_MAX_DELAY_MS", 50)
# "finish": an answer outlives the socket that asked for it (stored, billed, resumable); "stop" stores it stopped.
CHAT_ON_DISCONNECT = env_str("CHAT_ON_DISCONNECT", "finish")
# A generation's hold on its conversation, renewed while it streams: a dead worker's turn is recovered after it.
CHAT_TURN_LEASE_SECONDS = env_int("CHAT_TURN_LEASE_SECONDS", 30)
# How often a streaming answer is checkpointed to DynamoDB (with the lease renewal): what a crash keeps.
CHAT_CHECKPOINT_SECONDS = env_float("CHAT_CHECKPOINT_SECONDS", 5.0)
# The longest a per-user generation slot counts as held without its turn being recovered (a backstop).
CHAT_TURN_MAX_SECONDS = env_int("CHAT_TURN_MAX_SECONDS", 900)
# How long an answer's frames can be replayed (resume) after its last chunk, and how many chunks are kept.
CHAT_REPLAY_SECONDS = env_int("CHAT_REPLAY_SECONDS", 600)
CHAT_REPLAY_MAX_CHUNKS = env_int("CHAT_REPLAY_MAX_CHUNKS", 20_000)
# How long storing a finished answer is retried while DynamoDB fails, before the client gets answer_not_saved.
CHAT_FINISH_RETRY_SECONDS = env_float("CHAT_FINISH_RETRY_SECONDS", 10.0)
# On SIGTERM: how long running answers may go on before the rest are stored interrupted and the process exits.
CHAT_DRAIN_SECONDS = env_float("CHAT_DRAIN_SECONDS", 30.0)
# How long a sendMessage idempotencyKey is remembered (a resend within it never starts a second generation).
CHAT_IDEMPOTENCY_TTL_SECONDS = env_int("CHAT_IDEMPOTENCY_TTL_SECONDS", 86_400)
# Largest WebSocket text frame accepted (the SPA sends its whole page history in conversationHistory).
CHAT_MAX_FRAME_BYTES = env_int("CHAT_MAX_FRAME_BYTES", 4 * 1024 * 1024)
# Largest WebSocket message daphne takes at all (config/asgi_server.py); a larger one closes the socket with 1009.
# Above CHAT_MAX_FRAME_BYTES, so a frame between the two reaches the consumer, which answers frame_too_large and
# keeps the socket open. runserver reads the DAPHNE_* names.
CHAT_TRANSPORT_MAX_FRAME_BYTES = env_int("CHAT_TRANSPORT_MAX_FRAME_BYTES", 2 * CHAT_MAX_FRAME_BYTES)
DAPHNE_WEBSOCKET_MAX_MESSAGE_SIZE = DAPHNE_WEBSOCKET_MAX_FRAME_SIZE = CHAT_TRANSPORT_MAX_FRAME_BYTES
# Most fragments of one message the SPA may split (chunkInfo) and the server reassembles.
CHAT_MAX_MESSAGE_FRAGMENTS = env_int("CHAT_MAX_MESSAGE_FRAGMENTS", 16)

# --- Engine types and knowledge files (docs/admin.md) ------------------------------------------
PROMPTS_MAX_UPLOAD_BYTES = env_int("PROMPTS_MAX_UPLOAD_BYTES", 10 * 1024 * 1024)
# UTF-8 bytes of one file's extracted text: it is stored in one DynamoDB item, which holds at most 400 KB.
PROMPTS_MAX_FILE_TEXT_BYTES = env_int("PROMPTS_MAX_FILE_TEXT_BYTES", 300_000)
PROMPTS_MAX_FILES_PER_ENGINE = env_int("PROMPTS_MAX_FILES_PER_ENGINE", 20)
# Characters of description + instruction + every knowledge file: what each message sends as system prompt.
PROMPTS_MAX_CONTEXT_CHARS = env_int("PROMPTS_MAX_CONTEXT_CHARS", 400_000)
# UTF-8 bytes of the description and of the instruction (both live in the one prompt item).
PROMPTS_MAX_TEXT_FIELD_BYTES = env_int("PROMPTS_MAX_TEXT_FIELD_BYTES", 150_000)
PROMPTS_MAX_OUTPUT_TOKENS = env_int("PROMPTS_MAX_OUTPUT_TOKENS", 64_000)

# --- Usage, plans and quotas (docs/usage-and-quotas.md) -----------------------------------------
USAGE_DEFAULT_PLAN = env_str("USAGE_DEFAULT_PLAN", "free")
USAGE_PLAN_LIMITS = {
    "free": env_int("USAGE_LIMIT_FREE", 10_000),
    "basic": env_int("USAGE_LIMIT_BASIC", 100_000),
    "premium": env_int("USAGE_LIMIT_PREMIUM", 500_000),
}
# Optional monthly per-user limits per engine type, on top of the plan: "11=5000,22=20000".
USAGE_ENGINE_LIMITS = {
    engine.strip(): int(limit) for engine, _, limit in (item.partition("=") for item in env_list("USAGE_ENGINE_LIMITS"))
}
# Engine-type ids the usage routes read as another id: "C1=11,C2=22" (the original SPA's dashboard asks for C1/C2).
USAGE_ENGINE_ALIASES = {
    alias.strip(): engine.strip()
    for alias, _, engine in (item.partition("=") for item in env_list("USAGE_ENGINE_ALIASES"))
    if alias.strip() and engine.strip()
}
USAGE_STAFF_BYPASS = env_bool("USAGE_STAFF_BYPASS", True)
# A send whose output allowance would be clamped below this many tokens is refused instead.
USAGE_MIN_OUTPUT_TOKENS = env_int("USAGE_MIN_OUTPUT_TOKENS", 256)
# Reservations older than this are treated as leaked by a crashed worker and given back.
USAGE_RESERVATION_LEASE_SECONDS = env_int("USAGE_RESERVATION_LEASE_SECONDS", 900)
USAGE_PRICES_FILE = env_str("USAGE_PRICES_FILE", str(BASE_DIR / "usage" / "prices.json"))
USAGE_REPORT_MAX_DAYS = env_int("USAGE_REPORT_MAX_DAYS", 366)

# --- Cognito -----------------------------------------------------------------------------------
COGNITO_REGION = env_str("COGNITO_REGION", AWS_REGION)
COGNITO_USER_POOL_ID = env_str("COGNITO_USER_POOL_ID")
COGNITO_APP_CLIENT_IDS = env_list("COGNITO_APP_CLIENT_IDS")
COGNITO_JWKS_URL = env_str("COGNITO_JWKS_URL")
COGNITO_ADMIN_GROUP = env_str("COGNITO_ADMIN_GROUP", "admin")
# Clock skew tolerated on exp/nbf/iat, and the least time between two refetches of the JWKS for unknown key ids.
COGNITO_LEEWAY_SECONDS = env_int("COGNITO_LEEWAY_SECONDS", 30)
COGNITO_JWKS_REFRESH_COOLDOWN_SECONDS = env_float("COGNITO_JWKS_REFRESH_COOLDOWN_SECONDS", 30.0)

# --- HTTP API ----------------------------------------------------------------------------------
CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS")
CORS_ALLOW_CREDENTIALS = True
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
CORS_URLS_REGEX = r"^/api/.*$"
# Per-user rates ("60/min"; empty = unlimited) of writes and of reads; the SPA polls usage while streaming.
API_WRITE_THROTTLE_RATE = env_str("API_WRITE_THROTTLE_RATE", "120/min")
API_READ_THROTTLE_RATE = env_str("API_READ_THROTTLE_RATE")
# Deepest nesting of arrays/objects in a REST body or a WebSocket frame (config/json_input.py); deeper is refused.
JSON_MAX_DEPTH = env_int("JSON_MAX_DEPTH", 64)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "config.auth.cognito.CognitoJWTAuthentication",  # first: its header makes refusals 401
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_THROTTLE_CLASSES": [
        "config.api.throttling.WriteRateThrottle",
        "config.api.throttling.ReadRateThrottle",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": ["config.api.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "config.api.exception_handler.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "config.api.schema.AutoSchema",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Bedrock chat API",
    "DESCRIPTION": "Conversations, engine types (prompts), usage and identity. See docs/rest-api.md.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Channels ----------------------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
# How many server processes serve this deployment (all hosts): more than one needs REDIS_URL (production refuses).
WEB_CONCURRENCY = env_int("WEB_CONCURRENCY", 1)
CHANNEL_LAYERS = channel_layers_config(REDIS_URL)

# --- Logging -----------------------------------------------------------------------------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOG_FORMAT = env_str("LOG_FORMAT", "text")  # "text" or "json"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "config.request_logging.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.request": {"level": "ERROR"},
        "botocore": {"level": "WARNING"},
        "pynamodb": {"level": "WARNING"},
    },
}
