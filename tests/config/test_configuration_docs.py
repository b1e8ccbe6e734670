"""Every environment variable the settings read is documented in README.md and listed in .env.example."""

import re

from django.conf import settings

ENV_READ = re.compile(r"env_(?:str|bool|int|float|list)\(\s*\"([A-Z][A-Z0-9_]*)\"")


def settings_variables() -> set[str]:
    names = {"DJANGO_SETTINGS_MODULE"}
    for path in (settings.BASE_DIR / "config" / "settings").glob("*.py"):
        names |= set(ENV_READ.findall(path.read_text()))
    return names


def test_the_scan_finds_the_settings_variables():
    assert {"DJANGO_SECRET_KEY", "AWS_ENDPOINT_URL_DYNAMODB", "BEDROCK_MODE", "CORS_ALLOWED_ORIGINS"} <= (
        settings_variables()
    )


def test_every_settings_variable_has_a_row_in_the_readme_configuration_tables():
    readme = (settings.BASE_DIR / "README.md").read_text()
    rows = set(re.findall(r"^\| `([A-Z][A-Z0-9_]*)` \|", readme, flags=re.MULTILINE))

    assert sorted(settings_variables() - rows) == []


def test_every_settings_variable_is_listed_in_env_example():
    example = (settings.BASE_DIR / ".env.example").read_text()
    listed = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", example, flags=re.MULTILINE))

    assert sorted(settings_variables() - listed) == []
