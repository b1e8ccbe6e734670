"""Read-only staff pages of a user's conversations and messages."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.urls import reverse

from config.clock import utcnow
from conversations import admin as conversations_admin
from conversations.services import conversation_create
from tests.factories import message_make

LOOKUP = "admin:conversations_userconversationsentry_changelist"
CONVERSATION = "admin:conversations_userconversationsentry_conversation"


@pytest.fixture
def support(db):
    user = get_user_model().objects.create_user(username="support", password="pw-support-123", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_userconversationsentry"))
    return user


def test_lookup_lists_a_users_conversations_and_pages(client, support, settings, monkeypatch):
    monkeypatch.setattr(conversations_admin, "CONVERSATIONS_PER_PAGE", 2)
    for n in range(3):
        conversation_create(user_id="sub-123", engine_type="11", conversation_id=f"c{n}", title=f"Title {n}")
    conversation_create(user_id="someone-else", engine_type="11", conversation_id="other", title="Not theirs")
    client.force_login(support)

    first = client.get(reverse(LOOKUP), {"user_id": "sub-123"})
    first_page = first.content.decode()
    second_page = client.get(
        reverse(LOOKUP), {"user_id": "sub-123", "cursor": first.context["page"].next_cursor}
    ).content.decode()

    shown = [t for t in ("Title 0", "Title 1", "Title 2") if t in first_page]
    more = [t for t in ("Title 0", "Title 1", "Title 2") if t in second_page]
    assert len(shown) == 2 and len(more) == 1 and set(shown) | set(more) == {"Title 0", "Title 1", "Title 2"}
    assert "Not theirs" not in first_page + second_page
    assert 'id="next-page"' in first_page and 'id="next-page"' not in second_page


def test_a_conversations_messages_are_shown_read_only(client, support):
    conversation_create(user_id="sub-123", engine_type="11", conversation_id="c1", title="Bonds")
    message_make(user_id="sub-123", role="user", content="What is a <bond>?", message_id="0001")
    message_make(
        user_id="sub-123",
        role="assistant",
        content="A loan.",
        message_id="0002",
        model_id="m-1",
        prompt_revision=7,
        input_tokens=120,
        output_tokens=3,
    )
    client.force_login(support)

    page = client.get(reverse(CONVERSATION), {"user_id": "sub-123", "conversation_id": "c1"}).content.decode()

    assert "What is a &lt;bond&gt;?" in page and "A loan." in page
    assert "m-1 / r7" in page and "120 / 3" in page
    assert page.index("What is a") < page.index("A loan.")
    assert "<form" not in page.split('id="content-main"')[1]  # nothing to submit


def test_an_unknown_conversation_is_a_404_page(client, support):
    client.force_login(support)

    response = client.get(reverse(CONVERSATION), {"user_id": "sub-123", "conversation_id": "missing"})

    assert response.status_code == 404
    assert "Conversation not found" in response.content.decode()


def test_a_tampered_cursor_is_reported(client, support):
    client.force_login(support)

    response = client.get(reverse(LOOKUP), {"user_id": "sub-123", "cursor": "forged"})

    assert "The cursor is not valid." in response.content.decode()


def test_staff_without_the_view_permission_get_403(client, staff_user):
    client.force_login(staff_user)

    assert client.get(reverse(LOOKUP), {"user_id": "x"}).status_code == 403
    assert client.get(reverse(CONVERSATION), {"user_id": "x", "conversation_id": "y"}).status_code == 403


def test_the_pages_offer_no_add_or_change(client, support):
    client.force_login(support)

    index = client.get(reverse("admin:index")).content.decode()

    assert reverse(LOOKUP) in index
    assert "/admin/conversations/userconversationsentry/add/" not in index


def test_messages_page_in_pages(client, support, monkeypatch):
    monkeypatch.setattr(conversations_admin, "MESSAGES_PER_PAGE", 2)
    conversation_create(user_id="sub-123", engine_type="11", conversation_id="c1")
    start = utcnow() - timedelta(minutes=5)
    for n in range(3):
        at = start + timedelta(seconds=n)
        message_make(user_id="sub-123", content=f"message number {n}", message_id=f"000{n}", created_at=at)
    client.force_login(support)

    first = client.get(reverse(CONVERSATION), {"user_id": "sub-123", "conversation_id": "c1"})
    cursor = first.context["page"].next_cursor
    second = client.get(reverse(CONVERSATION), {"user_id": "sub-123", "conversation_id": "c1", "cursor": cursor})

    assert [m.content for m in first.context["page"].items] == ["message number 0", "message number 1"]
    assert [m.content for m in second.context["page"].items] == ["message number 2"]
