"""The built-in chat page in real headless Chromium (Debian's ``chromium``): log in, chat, stop, reopen."""

import os
from pathlib import Path

import pytest

from tests.conversations.live_stack import live_stack

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [pytest.mark.browser, pytest.mark.server]


@pytest.fixture
def chromium():
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("CI is set but /usr/bin/chromium is missing (.ci/run installs it with apt)")
        pytest.skip("Debian's chromium is not installed (/usr/bin/chromium); `apt-get install chromium`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


def test_log_in_chat_stop_and_reopen(tmp_path, chromium):
    from playwright.sync_api import expect

    expect.set_options(timeout=20_000)
    with live_stack(tmp_path, server="runserver", FAKE_MODEL_DELAY_SECONDS="0.05") as stack:
        page = chromium.new_page()
        page.set_default_timeout(20_000)
        page.goto(stack.base_url + "/")
        assert "/login/" in page.url  # the page needs a signed-in user
        page.fill("#id_username", stack.username)
        page.fill("#id_password", stack.password)
        page.click("button[type=submit]")
        page.wait_for_url(stack.base_url + "/")
        expect(page.get_by_test_id("status")).to_have_text("connected")
        expect(page.locator("[data-testid=engine] option")).to_have_count(2)  # the seeded "11" and "22"

        # Chat: the answer streams in progressively, then ends.
        page.get_by_test_id("input").fill("Write a release about our new savings account")
        page.get_by_test_id("send").click()
        answer = page.locator(".message.assistant").first
        expect(answer).to_contain_text("offline fake model")
        assert "_Turn 1 of this conversation" not in answer.inner_text()  # still streaming: partial text shown
        expect(page.get_by_test_id("status")).to_have_text("done")
        expect(answer).to_contain_text("Write a release about our new savings account")
        expect(page.get_by_test_id("title")).to_have_text("Write a release about our new")  # title event (fake)

        # Stop: the answer ends early and is marked stopped.
        page.get_by_test_id("input").fill("Now a longer one please")
        page.get_by_test_id("send").click()
        second = page.locator(".message.assistant").nth(1)
        expect(second).to_contain_text("offline")
        page.get_by_test_id("stop").click()
        expect(page.get_by_test_id("status")).to_have_text("stopped")
        expect(second).to_have_class("message assistant stopped")
        stopped_text = second.inner_text()
        assert "_Turn 2" not in stopped_text

        # Reopen: a new chat is empty; the sidebar brings the stored conversation back, stop included.
        page.get_by_test_id("new-chat").click()
        expect(page.locator(".message")).to_have_count(0)
        page.locator("[data-testid=conversations] li").first.click()
        expect(page.locator(".message")).to_have_count(4)
        expect(page.locator(".message.assistant.stopped")).to_have_count(1)
        expect(page.locator(".message.user").first).to_have_text("Write a release about our new savings account")
