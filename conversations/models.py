"""Conversations and their messages in DynamoDB. See docs/data-model.md for the access patterns."""

from django.db import models
from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
    VersionAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from config.dynamodb.tables import table_meta

# A conversation's stored title, whoever wrote it (the user, the title model, the first message).
TITLE_MAX_CHARS = 200


class ConversationsByUserIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_user_updated"
        projection = AllProjection()

    user_id = UnicodeAttribute(hash_key=True)
    updated_at = UTCDateTimeAttribute(range_key=True)


class ConversationsByUserEngineIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_user_engine_updated"
        projection = AllProjection()

    user_engine = UnicodeAttribute(hash_key=True)
    updated_at = UTCDateTimeAttribute(range_key=True)


class Conversation(Model):
    """The head item of a conversation; its messages are separate items (no 400 KB ceiling)."""

    Meta = table_meta("conversations")

    user_id = UnicodeAttribute(hash_key=True)
    conversation_id = UnicodeAttribute(range_key=True)
    engine_type = UnicodeAttribute()
    user_engine = UnicodeAttribute()
    title = UnicodeAttribute(default="")
    title_source = UnicodeAttribute(default="default")  # default | message | model | user
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    message_count = NumberAttribute(default=0)
    # The turn currently generating, so a conversation runs one generation at a time; the lease
    # lets a crashed worker's lock expire.
    active_turn_id = UnicodeAttribute(null=True)
    active_turn_expires_at = UTCDateTimeAttribute(null=True)
    version = VersionAttribute()

    by_user = ConversationsByUserIndex()
    by_user_engine = ConversationsByUserEngineIndex()


class Message(Model):
    """One message; ``message_id`` sorts chronologically within its conversation."""

    Meta = table_meta("messages")

    conversation_key = UnicodeAttribute(hash_key=True)  # "<user_id>#<conversation_id>"
    message_id = UnicodeAttribute(range_key=True)
    role = UnicodeAttribute()  # user | assistant
    content = UnicodeAttribute(default="")
    created_at = UTCDateTimeAttribute()
    status = UnicodeAttribute(default="complete")  # complete | stopped | error
    turn_id = UnicodeAttribute(null=True)
    idempotency_key = UnicodeAttribute(null=True)
    engine_type = UnicodeAttribute(null=True)
    model_id = UnicodeAttribute(null=True)
    prompt_revision = NumberAttribute(null=True)
    stop_reason = UnicodeAttribute(null=True)
    error_code = UnicodeAttribute(null=True)
    input_tokens = NumberAttribute(null=True)
    output_tokens = NumberAttribute(null=True)
    cache_read_tokens = NumberAttribute(null=True)
    cache_write_tokens = NumberAttribute(null=True)
    usage_estimated = BooleanAttribute(null=True)
    cost_usd = NumberAttribute(null=True)
    price_version = UnicodeAttribute(null=True)
    latency_ms = NumberAttribute(null=True)


class IdempotencyRecord(Model):
    """One item per (user, idempotencyKey): a resent send never starts a second paid generation."""

    Meta = table_meta("idempotency")

    key = UnicodeAttribute(hash_key=True)  # "<user_id>#<idempotency_key>"
    conversation_id = UnicodeAttribute()
    status = UnicodeAttribute(default="running")  # running | complete | stopped | error
    turn_id = UnicodeAttribute(null=True)
    user_message_id = UnicodeAttribute(null=True)
    assistant_message_id = UnicodeAttribute(null=True)
    result = JSONAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    expires_at = TTLAttribute()


class ActiveGenerations(Model):
    """The generations one user has running, shared by every server process: caps concurrent generations.

    ``turns`` holds ``"<turn_id>|<lease expiry, epoch seconds>"`` strings; a string set, because ``ADD`` creates
    it on a missing item and ``size()`` bounds it in one conditional write.
    """

    Meta = table_meta("active_generations")

    user_id = UnicodeAttribute(hash_key=True)
    turns = UnicodeSetAttribute(null=True)


class UserConversationsEntry(models.Model):
    """Admin placeholder (no table) for the read-only staff pages of a user's conversations (conversations/admin.py);
    it provides the ``view_userconversationsentry`` permission that guards them."""

    user_id = models.CharField(max_length=128, primary_key=True)

    class Meta:
        managed = False
        verbose_name = "user's conversations"
        verbose_name_plural = "users' conversations"

    def __str__(self) -> str:
        return self.user_id
