"""Reads of conversations and messages. Every read is keyed by the owner's id.

Items past their retention (``expires_at``, a DynamoDB TTL) are hidden here: DynamoDB deletes them lazily, within
days, and moto never does.
"""

import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.utils.translation import gettext_lazy as _

from config.api.pagination import Page, cursor_encode, page_from, start_key_decode
from config.clock import utcnow
from config.errors import NotFound, ValidationFailed
from conversations.ids import is_valid_conversation_id, message_key, user_engine_key
from conversations.models import ActiveGenerations, Conversation, Feedback, Message

# Conversation items one title search reads at most before it answers (with a cursor to read on).
SEARCH_READ_BUDGET = 1000
SEARCH_QUERY_PAGE = 200
MESSAGE_ID_MAX_CHARS = 64  # ours are 26 (conversations/ids.py); anything much longer names no message


def is_expired(expires_at: datetime | None, *, now: datetime) -> bool:
    """Whether an item is past its TTL (still readable until DynamoDB's sweeper deletes it)."""
    return expires_at is not None and expires_at <= now


def _live(model: type, now: datetime):
    """The filter that hides expired items of ``model`` (no ``expires_at`` = kept forever)."""
    return model.expires_at.does_not_exist() | (model.expires_at > now)


def _conversation_not_found() -> NotFound:
    return NotFound(_("Conversation not found"), code="conversation_not_found")


def conversation_get(*, user_id: str, conversation_id: str, consistent_read: bool = False) -> Conversation:
    """The owner's conversation; an id no conversation can have (DynamoDB refuses over-long keys) is not found."""
    if not is_valid_conversation_id(conversation_id):
        raise _conversation_not_found()
    try:
        conversation = Conversation.get(user_id, conversation_id, consistent_read=consistent_read)
    except Conversation.DoesNotExist as exc:
        raise _conversation_not_found() from exc
    if is_expired(conversation.expires_at, now=utcnow()):
        raise _conversation_not_found()
    return conversation


def conversation_list(
    *, user_id: str, engine_type: str | None = None, limit: int = 50, cursor: str | None = None
) -> Page:
    """A user's conversations (of one engine type, if given), most recently updated first."""
    return page_from(_conversations_query(user_id=user_id, engine_type=engine_type, cursor=cursor, limit=limit), limit)


def _conversations_query(*, user_id: str, engine_type: str | None, cursor: str | None, **query: Any):
    """The live conversations of the user (of one engine type), newest first, from a cursor of the same list."""
    live = _live(Conversation, utcnow())
    if engine_type:
        key = user_engine_key(user_id, engine_type)
        start = start_key_decode(cursor, partition=("user_engine", key))
        index = Conversation.by_user_engine
    else:
        key = user_id
        start = start_key_decode(cursor, partition=("user_id", user_id), foreign="user_engine")
        index = Conversation.by_user
    return index.query(key, scan_index_forward=False, last_evaluated_key=start, filter_condition=live, **query)


def title_normalise(text: str) -> str:
    """The form titles are compared in: NFKC (full-width, compatibility and decomposed Hangul forms) and casefold."""
    return unicodedata.normalize("NFKC", text).casefold()


def conversation_search(
    *, user_id: str, text: str, engine_type: str | None = None, limit: int = 50, cursor: str | None = None
) -> Page:
    """The user's conversations whose title contains ``text`` (normalised), most recently updated first.

    A Query on the user's own partition (of one engine type, if given), matched in code: DynamoDB cannot compare
    case-insensitively, and a stored lower-cased copy would leave every existing title unsearchable. The cost is
    proportional to the user's conversations (≈ 0.5 KB each, so 1,000 titles ≈ 63 read units); one call reads at
    most ``SEARCH_READ_BUDGET`` of them and returns the cursor of where it stopped, so a page may hold fewer than
    ``limit`` matches (or none) while ``next`` is set. Full-text search would be an OpenSearch index fed by the
    table's DynamoDB stream (docs/data-model.md).
    """
    needle = title_normalise(text)
    results = _conversations_query(user_id=user_id, engine_type=engine_type, cursor=cursor, page_size=SEARCH_QUERY_PAGE)
    matches: list[Conversation] = []
    for read, conversation in enumerate(results, 1):
        if needle in title_normalise(conversation.title or ""):
            matches.append(conversation)
        if len(matches) == limit or read == SEARCH_READ_BUDGET:
            return Page(matches, cursor_encode(results.last_evaluated_key))
    return Page(matches, None)


def message_list(
    *, user_id: str, conversation_id: str, limit: int = 100, cursor: str | None = None, newest_first: bool = False
) -> Page:
    """A page of a conversation's messages, oldest first unless asked otherwise."""
    key = message_key(user_id, conversation_id)
    results = Message.query(
        key,
        scan_index_forward=not newest_first,
        limit=limit,
        last_evaluated_key=start_key_decode(cursor, partition=("conversation_key", key)),
        filter_condition=_live(Message, utcnow()),
    )
    return page_from(results, limit)


def message_get(*, user_id: str, conversation_id: str, message_id: str) -> Message:
    """One of the owner's messages (expired ones are gone); ``message_not_found`` otherwise."""
    missing = NotFound(_("Message not found"), code="message_not_found")
    if not is_valid_conversation_id(conversation_id) or not 0 < len(message_id) <= MESSAGE_ID_MAX_CHARS:
        raise missing
    try:
        message = Message.get(message_key(user_id, conversation_id), message_id)
    except Message.DoesNotExist as exc:
        raise missing from exc
    if is_expired(message.expires_at, now=utcnow()):
        raise missing
    return message


def feedback_by_message(*, user_id: str, conversation_id: str, messages: list[Message]) -> dict[str, Feedback]:
    """The feedback on ``messages`` (one page of a conversation, in either order), by message id: one Query."""
    if not messages:
        return {}
    ids = sorted(message.message_id for message in messages)
    results = Feedback.query(
        message_key(user_id, conversation_id),
        Feedback.message_id.between(ids[0], ids[-1]),
        filter_condition=_live(Feedback, utcnow()),
    )
    wanted = set(ids)
    return {item.message_id: item for item in results if item.message_id in wanted}


def message_history_list(*, user_id: str, conversation_id: str, before_message_id: str, limit: int) -> list[Message]:
    """The ``limit`` most recent messages before ``before_message_id``, oldest first (one Query).

    Consistent: a chat turn reads it just before its transaction, and an answer stored a moment ago must be in it.
    """
    results = Message.query(
        message_key(user_id, conversation_id),
        Message.message_id < before_message_id,
        scan_index_forward=False,
        limit=limit,
        consistent_read=True,
        filter_condition=_live(Message, utcnow()),
    )
    return list(results)[::-1]


def generation_slots_get(*, user_id: str) -> ActiveGenerations | None:
    """The user's running generations (consistent read); None if the user never had one."""
    try:
        return ActiveGenerations.get(user_id, consistent_read=True)
    except ActiveGenerations.DoesNotExist:
        return None


@dataclass(frozen=True)
class ConversationWithMessages:
    """A conversation and one page of its messages, oldest first; it reads as the conversation for the rest."""

    conversation: Conversation
    messages: list[Message]
    messages_next: str | None  # the cursor of the page of older messages
    feedback: dict[str, Feedback]  # by message id, for the messages above

    def __getattr__(self, name: str) -> object:
        return getattr(self.conversation, name)


def conversation_with_messages(
    *, conversation: Conversation, limit: int, cursor: str | None = None
) -> ConversationWithMessages:
    """The conversation with its latest ``limit`` messages (or the ones before ``cursor``), oldest first."""
    page = message_list(
        user_id=conversation.user_id,
        conversation_id=conversation.conversation_id,
        limit=limit,
        cursor=cursor,
        newest_first=True,
    )
    feedback = feedback_by_message(
        user_id=conversation.user_id, conversation_id=conversation.conversation_id, messages=page.items
    )
    return ConversationWithMessages(conversation, page.items[::-1], page.next_cursor, feedback)


def conversation_detail_get(
    *, user_id: str, conversation_id: str, messages_limit: int, messages_cursor: str | None = None
) -> ConversationWithMessages:
    conversation = conversation_get(user_id=user_id, conversation_id=conversation_id)
    return conversation_with_messages(conversation=conversation, limit=messages_limit, cursor=messages_cursor)


FEEDBACK_REPORT_MAX_DAYS = 366
FEEDBACK_COMMENTS_PER_REVISION = 100  # newest first; the counts always cover every rating


@dataclass
class FeedbackTally:
    up: int = 0
    down: int = 0


@dataclass
class RevisionFeedback:
    engine_type: str
    revision: int | None
    tally: FeedbackTally
    comments: list[Feedback]  # newest first, at most FEEDBACK_COMMENTS_PER_REVISION


@dataclass(frozen=True)
class FeedbackReport:
    start: date
    end: date
    engine_type: str | None
    engines: dict[str, FeedbackTally]  # per engine type, sorted by id
    revisions: list[RevisionFeedback]  # per engine type, newest revision first

    @property
    def engine_rows(self) -> list[RevisionFeedback]:
        """The per-engine tallies in the shape of the revision rows (revision None, no comments)."""
        return [RevisionFeedback(engine, None, tally, []) for engine, tally in self.engines.items()]


def _report_items(*, engine_type: str | None, start: date, end: date):
    first = datetime.combine(start, time.min, tzinfo=UTC)
    last = datetime.combine(end, time.max, tzinfo=UTC)
    live = _live(Feedback, utcnow())
    if engine_type:
        yield from Feedback.by_engine.query(engine_type, Feedback.rated_at.between(first, last), filter_condition=live)
        return
    month = start.replace(day=1)
    while month <= end:
        rated = Feedback.rated_at.between(first, last)
        yield from Feedback.by_month.query(month.strftime("%Y-%m"), rated, filter_condition=live)
        month = (month + timedelta(days=32)).replace(day=1)


def feedback_report(*, engine_type: str | None, start: date, end: date) -> FeedbackReport:
    """Current ratings given from ``start`` to ``end`` (UTC days, inclusive), per engine type and revision.

    Counted from the feedback items themselves (a changed rating moved its item, a cleared one deleted it), so a
    rating is never counted twice; one Query per UTC month (or per engine type), proportional to the ratings.
    """
    if end < start:
        raise ValidationFailed(_("“from” must not be after “to”."), code="invalid_range")
    if (end - start).days + 1 > FEEDBACK_REPORT_MAX_DAYS:
        raise ValidationFailed(
            _("The range may span at most %(days)d days.") % {"days": FEEDBACK_REPORT_MAX_DAYS}, code="range_too_long"
        )
    engines: dict[str, FeedbackTally] = {}
    revisions: dict[tuple[str, int | None], RevisionFeedback] = {}
    for item in _report_items(engine_type=engine_type, start=start, end=end):
        revision = int(item.prompt_revision) if item.prompt_revision is not None else None
        row = revisions.setdefault(
            (item.engine_type, revision), RevisionFeedback(item.engine_type, revision, FeedbackTally(), [])
        )
        for tally in (engines.setdefault(item.engine_type, FeedbackTally()), row.tally):
            setattr(tally, item.rating, getattr(tally, item.rating) + 1)
        if item.comment:
            row.comments.append(item)
    for row in revisions.values():
        row.comments = sorted(row.comments, key=lambda f: f.rated_at, reverse=True)[:FEEDBACK_COMMENTS_PER_REVISION]
    ordered = sorted(revisions.values(), key=lambda r: (r.engine_type, -(r.revision or 0)))
    return FeedbackReport(start, end, engine_type, dict(sorted(engines.items())), ordered)
