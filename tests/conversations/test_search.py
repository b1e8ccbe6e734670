"""GET /api/conversations?q= (conversations/selectors.py conversation_search): case- and form-insensitive title
search on the user's own partition, paged with the list's cursor."""

import unicodedata
from datetime import timedelta

import pytest

from config.clock import utcnow
from conversations import selectors
from tests.conversations.conftest import ALICE, BOB
from tests.factories import conversation_make

# The clock stops before tokens are made, so they are valid at the frozen instant.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_time")]


def fullwidth(text):
    """The full-width compatibility forms of ASCII letters (U+FF21...), which NFKC folds back to ASCII."""
    return "".join(chr(ord(c) + 0xFEE0) for c in text)


def make(user_id, conversation_id, title, engine_type="11", minutes=0, **fields):
    moment = utcnow() + timedelta(minutes=minutes)
    return conversation_make(
        user_id=user_id,
        conversation_id=conversation_id,
        title=title,
        engine_type=engine_type,
        updated_at=moment,
        created_at=moment,
        **fields,
    )


def search(client, headers, **params):
    response = client.get("/api/conversations", params, headers=headers)
    assert response.status_code == 200, response.content
    body = response.json()
    return [c["conversationId"] for c in body["conversations"]], body["next"]


@pytest.fixture
def titles(frozen_time):
    make(ALICE, "a1", "채권 금리 전망", minutes=1)
    make(ALICE, "a2", "Quarterly BOND report", minutes=2)
    make(ALICE, "a3", unicodedata.normalize("NFD", "회사채 발행"), engine_type="22", minutes=3)  # decomposed Hangul
    make(ALICE, "a4", f"{fullwidth('BOND')}\u3000{fullwidth('markets')}", minutes=4)
    make(ALICE, "a5", "Weather", minutes=5)
    make(BOB, "b1", "Bond secrets of Bob", minutes=6)
    make(BOB, "b2", "채권 비밀", minutes=7)


def test_matches_ignore_case_and_compatibility_forms(client, as_alice, titles):
    assert search(client, as_alice, q="bond") == (["a4", "a2"], None)
    assert search(client, as_alice, q=fullwidth("bond")) == (["a4", "a2"], None)


def test_korean_titles_match_whatever_their_unicode_form(client, as_alice, titles):
    assert search(client, as_alice, q="채권") == (["a1"], None)
    assert search(client, as_alice, q="회사채") == (["a3"], None)  # stored decomposed, searched composed
    assert search(client, as_alice, q=unicodedata.normalize("NFD", "채권 금리")) == (["a1"], None)


def test_another_users_titles_are_never_read(client, as_alice, as_bob, titles):
    assert search(client, as_alice, q="secret") == ([], None)
    assert search(client, as_bob, q="채권") == (["b2"], None)


def test_engine_type_narrows_the_search(client, as_alice, titles):
    assert search(client, as_alice, q="발행", engineType="22") == (["a3"], None)
    assert search(client, as_alice, q="발행", engineType="11") == ([], None)


def test_pages_with_the_signed_cursor(client, as_alice, frozen_time):
    for number in range(5):
        make(ALICE, f"m{number}", f"Bond #{number}", minutes=number)
        make(ALICE, f"x{number}", "other", minutes=number)
    seen, cursor = [], None
    while True:
        page, cursor = search(client, as_alice, q="bond", limit=2, **({"cursor": cursor} if cursor else {}))
        seen += page
        if cursor is None:
            break
    assert seen == ["m4", "m3", "m2", "m1", "m0"]


def test_one_call_reads_a_bounded_number_of_conversations(client, as_alice, frozen_time, monkeypatch):
    monkeypatch.setattr(selectors, "SEARCH_READ_BUDGET", 3)
    for number in range(5):
        make(ALICE, f"x{number}", "other", minutes=10 - number)
    make(ALICE, "hit", "bond", minutes=0)
    page, cursor = search(client, as_alice, q="bond")
    assert page == [] and cursor is not None  # stopped after 3 reads, with where to go on
    page, cursor = search(client, as_alice, q="bond", cursor=cursor)
    assert page == ["hit"] and cursor is None


def test_a_cursor_of_another_users_list_is_refused(client, as_alice, as_bob, frozen_time):
    for number in range(3):
        make(BOB, f"b{number}", "bond", minutes=number)
    _, bobs_cursor = search(client, as_bob, q="bond", limit=1)
    response = client.get("/api/conversations", {"q": "bond", "cursor": bobs_cursor}, headers=as_alice)
    assert response.status_code == 400 and response.json()["code"] == "invalid_cursor"


def test_expired_conversations_are_not_found(client, as_alice, frozen_time):
    make(ALICE, "old", "bond", expires_at=utcnow() - timedelta(seconds=1))
    make(ALICE, "kept", "bond", expires_at=utcnow() + timedelta(days=1), minutes=1)
    assert search(client, as_alice, q="bond") == (["kept"], None)


def test_a_too_long_query_is_a_coded_400(client, as_alice):
    response = client.get("/api/conversations", {"q": "x" * 201}, headers=as_alice)
    assert response.status_code == 400 and response.json()["code"] == "invalid" and "q" in response.json()["fields"]
