"""The import rules of docs/architecture.md, enforced: a future upward import or cycle fails the suite."""

import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ("conversations", "prompts", "usage")
# What one app may use of another: its use cases and its reads, nothing below them.
PUBLIC_LAYERS = ("services", "selectors")


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("config", *APPS, "benchmarks", cache_dir=None)


def test_import_linter_contracts_are_kept():
    """The contracts in pyproject.toml ([tool.importlinter]): package stack, layers inside each app, no cycles."""
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_an_app_uses_another_app_only_through_its_services_and_selectors(graph):
    offending = []
    for importer_app in APPS:
        for importer in graph.find_descendants(importer_app) | {importer_app}:
            for imported in graph.find_modules_directly_imported_by(importer):
                imported_app, _, rest = imported.partition(".")
                if imported_app in APPS and imported_app != importer_app and rest.split(".")[0] not in PUBLIC_LAYERS:
                    offending.append(f"{importer} -> {imported}")
    assert offending == []


def test_config_imports_no_app_outside_the_root_wiring(graph):
    wiring = {"config.asgi"}
    offending = [
        f"{importer} -> {imported}"
        for importer in graph.find_descendants("config") | {"config"}
        if importer not in wiring
        for imported in graph.find_modules_directly_imported_by(importer)
        if imported.partition(".")[0] in APPS
    ]
    assert offending == []


def test_no_app_module_is_longer_than_400_lines():
    too_long = {
        str(path.relative_to(ROOT)): length
        for package in ("config", *APPS)
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts and (length := len(path.read_text(encoding="utf-8").splitlines())) > 400
    }
    assert too_long == {}
