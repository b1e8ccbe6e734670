"""Local development: the offline stack (moto server + fake model) started by `make dev`."""

from config.env import env_bool, env_str

from .base import *  # noqa: F403

DEBUG = env_bool("DJANGO_DEBUG", True)
BEDROCK_MODE = env_str("BEDROCK_MODE", "fake")
