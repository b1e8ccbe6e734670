"""An idempotent resend: the stored turn is answered again from what was stored, never generated twice."""

from django.utils.translation import gettext_lazy as _

from config.bedrock.client import StreamUsage
from config.errors import ApplicationError, Conflict
from conversations.ids import idempotency_record_key, message_key
from conversations.models import Conversation, IdempotencyRecord, Message
from conversations.services.turn_events import TurnDelta, TurnEnded, TurnEvent, TurnStarted
from conversations.services.turn_recovery import turn_recover, turn_running
from conversations.services.turn_types import TurnAttach, TurnReplay, TurnRequest


def _record(request: TurnRequest) -> IdempotencyRecord:
    return IdempotencyRecord.get(idempotency_record_key(request.user_id, request.idempotency_key), consistent_read=True)


def turn_replay_get(*, request: TurnRequest) -> TurnReplay | TurnAttach:
    """The finished turn the request's idempotency key belongs to, or the running one to attach to (on whichever
    process runs it). A turn whose worker died is recovered first (then replayed as ``interrupted``); a key of
    another conversation is refused."""
    record = _record(request)
    if not request.conversation_new and request.conversation_id not in (None, record.conversation_id):
        message = _("This idempotencyKey was already used for another conversation.")
        raise Conflict(message, code="idempotency_key_reused")
    if record.status == "running":
        conversation = Conversation.get(request.user_id, record.conversation_id, consistent_read=True)
        if conversation.active_turn_id == record.turn_id and turn_running(conversation=conversation):
            return TurnAttach(conversation_id=record.conversation_id, turn_id=record.turn_id or "")
        turn_recover(user_id=request.user_id, conversation_id=record.conversation_id, conversation=conversation)
        record = _record(request)
        if record.status == "running":
            raise Conflict(
                "This message's answer was interrupted; send it again as a new message.", code="turn_abandoned"
            )
    message = None
    if record.assistant_message_id:
        try:
            message = Message.get(message_key(request.user_id, record.conversation_id), record.assistant_message_id)
        except Message.DoesNotExist:
            message = None
    return TurnReplay(record=record, message=message)


def turn_replay_events(replay: TurnReplay, *, engine_type: str) -> list[TurnEvent]:
    """The events of the stored turn (its whole answer as one delta); a failed turn raises its stored error."""
    record, message = replay.record, replay.message
    result = record.result or {}
    if record.status == "error":
        error = result.get("error") or {}
        raise ApplicationError(
            error.get("message") or "This message failed.",
            code=error.get("code") or "error",
            retryable=bool(error.get("retryable")),
            conversationId=record.conversation_id,
            messageId=record.assistant_message_id,
            replayed=True,
        )
    content = message.content if message is not None else ""
    ids = {
        "conversation_id": record.conversation_id,
        "engine_type": engine_type,
        "user_message_id": record.user_message_id or "",
        "assistant_message_id": record.assistant_message_id or "",
        "model_id": (message.model_id if message is not None else None) or "",
    }
    usage = StreamUsage()
    if message is not None:
        usage = StreamUsage(
            input_tokens=int(message.input_tokens or 0),
            output_tokens=int(message.output_tokens or 0),
            cache_read_tokens=int(message.cache_read_tokens or 0),
            cache_write_tokens=int(message.cache_write_tokens or 0),
        )
    return [
        TurnStarted(**ids, replayed=True),
        *([TurnDelta(text=content, index=0)] if content else []),
        TurnEnded(
            **ids,
            status=record.status,
            stop_reason=result.get("stopReason"),
            content=content,
            chunks=1 if content else 0,
            usage=usage,
            usage_estimated=bool(message and message.usage_estimated),
            cost_usd=message.cost_usd if message is not None else None,
            replayed=True,
        ),
    ]
