"""Headless Chromium against a live server: staff log in, add an engine type, upload a PDF, preview, edit;
a non-staff account is refused.

Needs Debian's ``chromium`` (``.ci/run`` installs it). Without it the test is skipped, unless ``CI`` is set,
where a missing browser is a failure. The live server runs in a thread of this process, so it shares the
in-process moto DynamoDB of the ``dynamodb`` fixture.
"""

import os
import re

import pytest

from prompts.models import EngineType, KnowledgeFile
from tests.prompts.documents import pdf_with_text

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def chromium():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {CHROMIUM} is missing: install Debian's chromium (see .ci/run)")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def log_in(browser, base_url: str, username: str, password: str):
    page = browser.new_context().new_page()
    page.set_default_timeout(20_000)
    page.goto(f"{base_url}/admin/login/?next=/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_load_state()
    return page


# The users are created before the browser starts: Django refuses ORM calls from a thread in which
# Playwright's sync API runs its event loop.
def test_staff_add_upload_preview_edit(live_server, editor, chromium):
    page = log_in(chromium, live_server.url, "editor", "pw-editor-123")
    assert page.locator("#site-name").is_visible()
    page.click("text=Engine types >> nth=-1")
    page.click("a.addlink")

    page.fill("#id_engine_type", "33")
    page.fill("#id_name", "Browser engine")
    page.fill("#id_description", "A careful analyst.")
    page.fill("#id_instruction", "Use bullet points.")
    page.fill("#id_model_id", "us.anthropic.claude-3-5-haiku-20241022-v1:0")
    page.fill("#id_temperature", "0.2")
    page.click("input[name=_continue]")
    assert "was added successfully" in page.locator("ul.messagelist").inner_text()
    assert page.url.endswith("/admin/prompts/enginetypeentry/33/change/")

    page.click("text=Knowledge files")
    pdf = pdf_with_text(["Quarterly exports rose 4.2 percent."])
    page.set_input_files("input[name=file]", {"name": "exports.pdf", "mimeType": "application/pdf", "buffer": pdf})
    page.click("input[name=_upload]")
    assert "Knowledge file “exports.pdf” added" in page.locator("ul.messagelist").inner_text()
    assert "exports.pdf" in page.locator("#knowledge-files").inner_text()

    page.click(".breadcrumbs a >> text=33")
    page.click("text=Preview")
    system_prompt = page.locator("#system-prompt").inner_text()
    assert "Use bullet points." in system_prompt
    assert "### [1] exports.pdf\nQuarterly exports rose 4.2 percent." in system_prompt
    assert "estimate" in page.locator("#token-count").inner_text()
    assert re.search(r"\$\d+\.\d{6}", page.locator("#input-cost").inner_text())

    page.click(".breadcrumbs a >> text=33")
    page.fill("#id_instruction", "Use numbered lists.")
    page.click("input[name=_save]")
    assert "was changed successfully" in page.locator("ul.messagelist").inner_text()
    assert page.url.endswith("/admin/prompts/enginetypeentry/")

    stored = EngineType.get("33")
    assert (stored.instruction, stored.model_id, stored.temperature) == (
        "Use numbered lists.",
        "us.anthropic.claude-3-5-haiku-20241022-v1:0",
        0.2,
    )
    assert [f.file_name for f in KnowledgeFile.query("33")] == ["exports.pdf"]


def test_non_staff_are_refused(live_server, user, chromium):
    page = log_in(chromium, live_server.url, "alice", "pw-alice-123")
    assert "staff account" in page.locator(".errornote").inner_text()

    page.goto(f"{live_server.url}/admin/prompts/enginetypeentry/add/")

    assert "/admin/login/" in page.url
    assert page.locator("#id_engine_type").count() == 0
