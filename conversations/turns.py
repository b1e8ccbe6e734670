"""One chat turn: a user message in, a streamed, persisted assistant answer out.

``turn_run`` is the use case the WebSocket consumer calls. Its steps and their DynamoDB requests (warm engine and
plan caches; see docs/websocket-protocol.md, "Cost of a turn"):

1. ``turn_begin``: ``history_load``, **one** consistent Query of the last messages (skipped for a conversation
   the server creates now), turned into alternating user/assistant turns, which size the input estimate; then
   **one** ``TransactWriteItems`` that, all or nothing, checks the cached engine revision is still current and
   active, claims the idempotency key, stores the user message, creates the conversation if needed and takes its
   one-generation lease, takes one of the user's generation slots (cap across processes), and reserves the quota
   (usage app's ``QuotaClaim``: plan check, reservation item, conditional bucket updates).
2. The model stream, read event by event.
3. ``turn_finish``: **one** ``TransactWriteItems`` that stores the assistant message (usage, cost, status),
   releases the lease, the slot and the idempotency key's "running" state, and settles or releases the quota
   reservation (usage app's ``ReservationClose``), before ``chat_end`` is sent.

Blocking functions here are plain sync code; ``turn_run`` calls each through ``config.aio.run_io``.
"""

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.condition import size

from config.aio import run_io
from config.bedrock.client import ModelRequest, StreamStop, StreamUsage, TextDelta, model_backend
from config.bedrock.tokens import tokens_estimate
from config.clock import utcnow
from config.dynamodb.transactions import NamedTransactWrite
from config.errors import ApplicationError, Conflict, RateLimited, ValidationFailed
from conversations.ids import is_valid_conversation_id, message_key, new_conversation_id, new_message_id
from conversations.models import ActiveGenerations, Conversation, IdempotencyRecord, Message
from prompts.models import EngineType
from prompts.system_prompt import EngineTypeConfig, engine_type_config_get
from usage.services import (
    QuotaClaim,
    Reservation,
    ReservationClose,
    quota_claim_start,
    quota_release_build,
    usage_settlement_build,
)

logger = logging.getLogger(__name__)

FALLBACK_TITLE_CHARS = 50
IDEMPOTENCY_KEY_MAX_CHARS = 128
_ENGINE_REFRESHES = 3
_BEGIN_ATTEMPTS = 16
_FINISH_ATTEMPTS = 6
_END = object()
_STOPPED = object()

# The engine configurations this process last used; every turn's transaction re-checks the revision.
_engine_type_configs: dict[str, EngineTypeConfig] = {}


@dataclass(frozen=True)
class TurnRequest:
    user_id: str
    is_staff: bool
    engine_type: str
    message: str
    conversation_id: str | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True)
class Turn:
    """A begun turn: the user message is stored, the lease, a generation slot and the quota reservation are held.

    ``refusal`` is set (and ``reservation`` None) when the quota refused the send: the turn is stored, with that
    error as its answer, and no model is called.
    """

    request: TurnRequest
    conversation_id: str
    turn_id: str
    idempotency_key: str
    user_message_id: str
    assistant_message_id: str
    slot: str
    config: EngineTypeConfig
    started_at: datetime
    history: list[Message]
    model_request: ModelRequest
    input_estimate: int
    reservation: Reservation | None
    refusal: ApplicationError | None = None


@dataclass(frozen=True)
class TurnReplay:
    """An idempotent resend of a finished turn: answered from what was stored."""

    record: IdempotencyRecord
    message: Message | None


@dataclass
class TurnOutcome:
    status: str = "complete"  # complete | stopped | error
    content: str = ""
    stop_reason: str | None = None
    usage: StreamUsage | None = None
    usage_estimated: bool = False
    cost_usd: float | None = None
    price_version: str | None = None
    error: ApplicationError | None = None


# --- events yielded to the consumer ----------------------------------------------------------------


@dataclass(frozen=True)
class TurnStarted:
    conversation_id: str
    engine_type: str
    user_message_id: str
    assistant_message_id: str
    model_id: str
    replayed: bool = False


@dataclass(frozen=True)
class TurnDelta:
    text: str
    index: int


@dataclass(frozen=True)
class TurnEnded:
    conversation_id: str
    engine_type: str
    user_message_id: str
    assistant_message_id: str
    model_id: str
    status: str
    stop_reason: str | None
    content: str
    chunks: int
    usage: dict[str, Any] = field(default_factory=dict)
    cost_usd: float | None = None
    replayed: bool = False


@dataclass(frozen=True)
class TitleChanged:
    conversation_id: str
    title: str
    source: str


TurnEvent = TurnStarted | TurnDelta | TurnEnded | TitleChanged


# --- validation ------------------------------------------------------------------------------------


def turn_request_build(
    *,
    user_id: str,
    is_staff: bool,
    engine_type: Any,
    message: Any,
    conversation_id: Any = None,
    idempotency_key: Any = None,
) -> TurnRequest:
    """Check the client's values (types, sizes, formats); raises ``ValidationFailed`` with ``fields``."""
    if not isinstance(message, str):
        raise ValidationFailed("message must be a string.", code="invalid", fields={"message": ["Must be a string."]})
    if not message.strip():
        raise ValidationFailed("The message is empty.", code="message_empty", fields={"message": ["Empty."]})
    if len(message) > settings.CHAT_MAX_MESSAGE_CHARS:
        raise ValidationFailed(
            f"The message is longer than {settings.CHAT_MAX_MESSAGE_CHARS} characters.",
            code="message_too_long",
            fields={"message": [f"At most {settings.CHAT_MAX_MESSAGE_CHARS} characters."]},
            maxChars=settings.CHAT_MAX_MESSAGE_CHARS,
        )
    if len(message.encode()) > settings.CHAT_MAX_MESSAGE_BYTES:
        raise ValidationFailed(
            f"The message is larger than {settings.CHAT_MAX_MESSAGE_BYTES} bytes (UTF-8).",
            code="message_too_long",
            fields={"message": [f"At most {settings.CHAT_MAX_MESSAGE_BYTES} bytes."]},
            maxBytes=settings.CHAT_MAX_MESSAGE_BYTES,
        )
    if not isinstance(engine_type, str) or not engine_type.strip() or len(engine_type) > 64:
        raise ValidationFailed(
            "engineType must be a non-empty string.", code="invalid", fields={"engineType": ["Required string."]}
        )
    if conversation_id is not None and not is_valid_conversation_id(conversation_id):
        raise ValidationFailed(
            "conversationId is not a valid id.",
            code="invalid_conversation_id",
            fields={"conversationId": ["1-128 letters, digits, '_' or '-'."]},
        )
    if idempotency_key is not None and (
        not isinstance(idempotency_key, str)
        or not idempotency_key
        or len(idempotency_key) > IDEMPOTENCY_KEY_MAX_CHARS
        or "#" in idempotency_key
    ):
        raise ValidationFailed(
            "idempotencyKey must be a string of at most 128 characters without '#'.",
            code="invalid_idempotency_key",
            fields={"idempotencyKey": ["At most 128 characters, no '#'."]},
        )
    return TurnRequest(
        user_id=user_id,
        is_staff=is_staff,
        engine_type=engine_type,
        message=message,
        conversation_id=conversation_id,
        idempotency_key=idempotency_key,
    )


# --- engine configuration --------------------------------------------------------------------------


def _engine_type_config_fresh(engine_type: str) -> EngineTypeConfig:
    config = engine_type_config_get(engine_type=engine_type)  # NotFound(code="engine_type_not_found")
    if not config.active:
        _engine_type_configs.pop(engine_type, None)
        raise ValidationFailed("This engine type is not available.", code="engine_type_inactive")
    _engine_type_configs[engine_type] = config
    return config


# --- begin -----------------------------------------------------------------------------------------


def _fallback_title(message: str) -> str:
    return " ".join(message.split())[:FALLBACK_TITLE_CHARS]


def _answer_id(user_message_id: str) -> str:
    """The answer's id sorts right after its question's (a fresh id could sort before it within one millisecond)."""
    millis, _, rest = user_message_id.partition("-")
    return f"{int(millis) + 1:0{len(millis)}d}-{rest}"


def _slot_entry(turn_id: str, expires_at: datetime) -> str:
    return f"{turn_id}|{int(expires_at.timestamp())}"


def _model_request_build(
    request: TurnRequest, config: EngineTypeConfig, history: list[Message]
) -> tuple[ModelRequest, int]:
    """The model request (before any quota clamp) and its estimated input tokens."""
    turns = history_turns(
        history, max_turns=settings.CHAT_HISTORY_MAX_TURNS, token_budget=settings.CHAT_HISTORY_TOKEN_BUDGET
    )
    model_request = ModelRequest(
        model_id=config.model_id,
        system_text=config.system_text,
        messages=[*turns, {"role": "user", "text": request.message}],
        max_tokens=config.max_tokens,
        temperature=config.temperature,
        top_p=config.top_p,
    )
    estimate = tokens_estimate(config.system_text) + sum(tokens_estimate(m["text"]) for m in model_request.messages)
    return model_request, estimate


def turn_begin(*, request: TurnRequest) -> Turn | TurnReplay:
    """Read the history, then claim everything the turn needs in one transaction; sort out whichever claim failed.

    The history is read before the claims, so the reservation is sized by the real input. A conversation id the
    server makes up now is new: it has no history to read.
    """
    config = _engine_type_configs.get(request.engine_type) or _engine_type_config_fresh(request.engine_type)
    conversation_id = request.conversation_id or new_conversation_id()
    turn_id = new_message_id()
    history: list[Message] = []
    if request.conversation_id is not None:
        history = history_load(user_id=request.user_id, conversation_id=conversation_id, before_message_id=turn_id)
    claim: QuotaClaim | None = quota_claim_start(
        user_id=request.user_id, engine_type=request.engine_type, is_staff=request.is_staff
    )
    refusal: ApplicationError | None = None
    refreshes = 0
    for _attempt in range(_BEGIN_ATTEMPTS):
        model_request, estimate = _model_request_build(request, config, history)
        reservation = None
        if claim is not None:
            try:
                reservation = claim.draft(estimated_input_tokens=estimate, max_output_tokens=config.max_tokens)
                model_request = replace(model_request, max_tokens=reservation.max_output_tokens)
            except ApplicationError as exc:  # quota_exceeded, quota_busy: stored as this turn's answer
                claim, refusal = None, exc
        now = utcnow()
        expires_at = now + timedelta(seconds=settings.CHAT_TURN_LEASE_SECONDS)
        turn = Turn(
            request=request,
            conversation_id=conversation_id,
            turn_id=turn_id,
            idempotency_key=request.idempotency_key or turn_id,
            user_message_id=turn_id,
            assistant_message_id=_answer_id(turn_id),
            slot=_slot_entry(turn_id, expires_at),
            config=config,
            started_at=now,
            history=history,
            model_request=model_request,
            input_estimate=estimate,
            reservation=reservation,
            refusal=refusal,
        )
        tx = NamedTransactWrite()
        try:
            with tx:
                _begin_items(tx, turn, now=now, lease_expires_at=expires_at)
                if claim is not None:
                    claim.write(tx)
        except TransactWriteError as exc:
            failed = tx.failed(exc)
            if not failed:
                if tx.conflicted(exc):
                    continue
                raise
            if "idempotency" in failed:
                return _replay_or_refuse(request=request, conversation_id=conversation_id)
            if "conversation" in failed:
                raise Conflict(
                    "An answer is still being generated in this conversation; wait for it or stop it.",
                    code="generation_in_progress",
                    retryable=True,
                ) from exc
            if "prompt" in failed:
                refreshes += 1
                if refreshes > _ENGINE_REFRESHES:
                    raise RateLimited("The engine type is changing; try again.", code="engine_type_changing") from exc
                config = _engine_type_config_fresh(request.engine_type)
            if "slots" in failed and not _slots_prune(user_id=request.user_id, now=now):
                raise RateLimited(
                    f"You already have {settings.CHAT_MAX_CONCURRENT_GENERATIONS_PER_USER} answers being generated; "
                    "wait for one to finish.",
                    code="too_many_generations",
                ) from exc
            if claim is not None:
                try:
                    claim.revise(failed)
                except ApplicationError as refused:
                    claim, refusal = None, refused
            turn_id = new_message_id()
            continue
        return turn
    raise RateLimited("Too many sends at once; try again in a moment.", code="quota_busy")


def _begin_items(tx: NamedTransactWrite, turn: Turn, *, now: datetime, lease_expires_at: datetime) -> None:
    request = turn.request
    user_id = request.user_id
    conversation = Conversation(user_id, turn.conversation_id)
    conversation.version = 0  # makes PynamoDB ADD 1 to the stored version instead of resetting it to 1
    tx.check(
        "prompt",
        EngineType,
        request.engine_type,
        condition=(EngineType.revision == turn.config.revision) & (EngineType.active == True),  # noqa: E712
    )
    tx.put(
        "idempotency",
        IdempotencyRecord(
            f"{user_id}#{turn.idempotency_key}",
            conversation_id=turn.conversation_id,
            status="running",
            turn_id=turn.turn_id,
            user_message_id=turn.user_message_id,
            assistant_message_id=turn.assistant_message_id,
            created_at=now,
            expires_at=now + timedelta(seconds=settings.CHAT_IDEMPOTENCY_TTL_SECONDS),
        ),
        condition=IdempotencyRecord.key.does_not_exist(),
    )
    tx.put(
        "message",
        Message(
            message_key(user_id, turn.conversation_id),
            turn.user_message_id,
            role="user",
            content=request.message,
            created_at=now,
            status="complete",
            turn_id=turn.turn_id,
            idempotency_key=turn.idempotency_key,
            engine_type=request.engine_type,
        ),
    )
    tx.change(
        "conversation",
        conversation,
        actions=[
            # An unknown id creates the conversation; it is keyed by the owner, so it can never be another's.
            Conversation.engine_type.set(Conversation.engine_type | request.engine_type),
            Conversation.user_engine.set(Conversation.user_engine | f"{user_id}#{request.engine_type}"),
            Conversation.created_at.set(Conversation.created_at | now),
            Conversation.title.set(Conversation.title | _fallback_title(request.message)),
            Conversation.title_source.set(Conversation.title_source | "message"),
            Conversation.updated_at.set(now),
            Conversation.message_count.add(1),
            Conversation.active_turn_id.set(turn.turn_id),
            Conversation.active_turn_expires_at.set(lease_expires_at),
        ],
        condition=Conversation.active_turn_id.does_not_exist() | (Conversation.active_turn_expires_at < now),
    )
    tx.change(
        "slots",
        ActiveGenerations(user_id),
        actions=[ActiveGenerations.turns.add({turn.slot})],
        condition=ActiveGenerations.turns.does_not_exist()
        | (size(ActiveGenerations.turns) < settings.CHAT_MAX_CONCURRENT_GENERATIONS_PER_USER),
    )


def _slots_prune(*, user_id: str, now: datetime) -> bool:
    """Drop slots whose lease ran out (their worker died); True if any was dropped."""
    try:
        item = ActiveGenerations.get(user_id, consistent_read=True)
    except ActiveGenerations.DoesNotExist:
        return True
    stale = {entry for entry in item.turns or set() if int(entry.rsplit("|", 1)[1]) < now.timestamp()}
    if not stale:
        return False
    item.update(actions=[ActiveGenerations.turns.delete(stale)])
    logger.warning("released %d stale generation slot(s) of user %s", len(stale), user_id)
    return True


def _replay_or_refuse(*, request: TurnRequest, conversation_id: str) -> TurnReplay:
    record = IdempotencyRecord.get(f"{request.user_id}#{request.idempotency_key}", consistent_read=True)
    if request.conversation_id is not None and record.conversation_id != request.conversation_id:
        raise Conflict("This idempotencyKey was already used for another conversation.", code="idempotency_key_reused")
    if record.status == "running":
        lease_end = record.created_at + timedelta(seconds=settings.CHAT_TURN_LEASE_SECONDS)
        if utcnow() < lease_end:
            raise Conflict(
                "This message is still being answered; its answer continues on the connection that sent it.",
                code="turn_in_progress",
                retryable=True,
            )
        raise Conflict("This message's answer was interrupted; send it again as a new message.", code="turn_abandoned")
    message = None
    if record.assistant_message_id:
        try:
            message = Message.get(message_key(request.user_id, record.conversation_id), record.assistant_message_id)
        except Message.DoesNotExist:
            message = None
    return TurnReplay(record=record, message=message)


# --- history ---------------------------------------------------------------------------------------


def history_load(*, user_id: str, conversation_id: str, before_message_id: str) -> list[Message]:
    """The most recent stored messages before this turn's, oldest first (one Query).

    Consistent: it runs just before the turn's transaction, and an answer stored a moment ago must be in it.
    """
    results = Message.query(
        message_key(user_id, conversation_id),
        Message.message_id < before_message_id,
        scan_index_forward=False,
        limit=2 * settings.CHAT_HISTORY_MAX_TURNS + 2,
        consistent_read=True,
    )
    return list(results)[::-1]


def history_turns(messages: list[Message], *, max_turns: int, token_budget: int) -> list[dict]:
    """Stored messages as alternating ``{"role", "text"}`` turns for the model.

    Only answered exchanges count: a user message whose answer failed (or is missing) is left out with it, so the
    turns always alternate. The newest ``max_turns`` exchanges are kept, then as many as fit ``token_budget``.
    """
    pairs: list[tuple[str, str]] = []
    pending_user: str | None = None
    for message in messages:
        if message.role == "user":
            pending_user = message.content
        elif pending_user is not None and message.status in ("complete", "stopped") and message.content:
            pairs.append((pending_user, message.content))
            pending_user = None
        else:
            pending_user = None
    kept: list[tuple[str, str]] = []
    spent = 0
    for user_text, answer in reversed(pairs[-max_turns:] if max_turns > 0 else []):
        spent += tokens_estimate(user_text) + tokens_estimate(answer)
        if spent > token_budget:
            break
        kept.append((user_text, answer))
    turns: list[dict] = []
    for user_text, answer in reversed(kept):
        turns += [{"role": "user", "text": user_text}, {"role": "assistant", "text": answer}]
    return turns


# --- finish ----------------------------------------------------------------------------------------


def turn_finish(*, turn: Turn, outcome: TurnOutcome) -> None:
    """Store the answer, release the turn's claims and settle its quota in one transaction, before ``chat_end``."""
    closing = _closing_build(turn, outcome)
    release_lease = True
    for _attempt in range(_FINISH_ATTEMPTS):
        tx = NamedTransactWrite()
        try:
            with tx:
                _finish_items(tx, turn, outcome, release_lease=release_lease)
                if closing is not None:
                    closing.write(tx)
        except TransactWriteError as exc:
            failed = tx.failed(exc)
            if not failed and tx.conflicted(exc):
                continue
            revised = closing is not None and closing.revise(failed)
            if "conversation" in failed and release_lease:
                # The lease ran out and another turn holds it now: store the answer, leave that turn's lease alone.
                logger.warning("turn %s outlived its lease on conversation %s", turn.turn_id, turn.conversation_id)
                release_lease, revised = False, True
            if not revised or failed - {"conversation", "usage:reservation"}:
                raise
            continue
        return
    raise RuntimeError(f"turn {turn.turn_id} could not be finished")


def _closing_build(turn: Turn, outcome: TurnOutcome) -> ReservationClose | None:
    """The usage to hand to the usage app: recorded (estimated when the stream was cut) or the reservation released.

    A failure here is logged and the answer stored anyway (the reservation then expires as stale), never lost.
    """
    reservation = turn.reservation
    if reservation is None:
        return None
    try:
        if outcome.usage is None:
            if not outcome.content:
                return quota_release_build(reservation=reservation)
            outcome.usage = StreamUsage(
                input_tokens=turn.input_estimate, output_tokens=tokens_estimate(outcome.content)
            )
            outcome.usage_estimated = True
        usage = outcome.usage
        closing = usage_settlement_build(
            reservation=reservation,
            model_id=turn.config.model_id,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            estimated=outcome.usage_estimated,
            kind="chat",
        )
    except Exception:
        logger.exception("settling the usage of turn %s failed", turn.turn_id)
        return None
    outcome.cost_usd = closing.charge.cost_usd
    outcome.price_version = closing.charge.price_version
    return closing


def _finish_items(tx: NamedTransactWrite, turn: Turn, outcome: TurnOutcome, *, release_lease: bool) -> None:
    request = turn.request
    now = utcnow()
    usage = outcome.usage or StreamUsage()
    error = outcome.error
    conversation = Conversation(request.user_id, turn.conversation_id)
    conversation.version = 0
    conversation_actions = [
        Conversation.updated_at.set(now),
        Conversation.message_count.add(1),
    ]
    condition = None
    if release_lease:
        conversation_actions += [Conversation.active_turn_id.remove(), Conversation.active_turn_expires_at.remove()]
        condition = Conversation.active_turn_id == turn.turn_id
    result: dict[str, Any] = {"status": outcome.status, "stopReason": outcome.stop_reason}
    if error is not None:
        result["error"] = {"code": error.code, "message": error.message, "retryable": error.retryable}
    tx.put(
        "message",
        Message(
            message_key(request.user_id, turn.conversation_id),
            turn.assistant_message_id,
            role="assistant",
            # Only what the model wrote: an error is recorded in status/error_code, never as the answer.
            content=outcome.content,
            created_at=now,
            status=outcome.status,
            turn_id=turn.turn_id,
            idempotency_key=turn.idempotency_key,
            engine_type=request.engine_type,
            model_id=turn.config.model_id,
            prompt_revision=turn.config.revision,
            stop_reason=outcome.stop_reason,
            error_code=error.code if error is not None else None,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            usage_estimated=outcome.usage_estimated,
            cost_usd=outcome.cost_usd,
            price_version=outcome.price_version,
            latency_ms=usage.latency_ms,
        ),
    )
    tx.change("conversation", conversation, actions=conversation_actions, condition=condition)
    tx.change(
        "idempotency",
        IdempotencyRecord(f"{request.user_id}#{turn.idempotency_key}"),
        actions=[
            IdempotencyRecord.status.set(outcome.status),
            IdempotencyRecord.assistant_message_id.set(turn.assistant_message_id),
            IdempotencyRecord.result.set(result),
        ],
    )
    tx.change("slots", ActiveGenerations(request.user_id), actions=[ActiveGenerations.turns.delete({turn.slot})])


# --- the use case ----------------------------------------------------------------------------------


def usage_dict(usage: StreamUsage | None, *, estimated: bool) -> dict[str, Any]:
    usage = usage or StreamUsage()
    return {
        "inputTokens": usage.input_tokens,
        "outputTokens": usage.output_tokens,
        "cacheReadTokens": usage.cache_read_tokens,
        "cacheWriteTokens": usage.cache_write_tokens,
        "estimated": estimated,
    }


def _with_context(error: ApplicationError, **context: Any) -> ApplicationError:
    error.extra.update({key: value for key, value in context.items() if value is not None})
    return error


async def turn_run(request: TurnRequest, *, stop: asyncio.Event) -> AsyncIterator[TurnEvent]:
    """Run one turn, yielding its events; setting ``stop`` ends the generation (the model stream is closed).

    Errors are raised as ``ApplicationError`` (after whatever was begun is stored), with ``conversationId`` and,
    once the answer exists, ``messageId`` in their ``extra``.
    """
    begun = await run_io(turn_begin, request=request)
    if isinstance(begun, TurnReplay):
        async for event in _replay(request, begun):
            yield event
        return
    turn = begun
    config = turn.config
    outcome = TurnOutcome()
    chunks = 0
    try:
        if turn.refusal is not None:
            raise turn.refusal
        yield TurnStarted(
            conversation_id=turn.conversation_id,
            engine_type=request.engine_type,
            user_message_id=turn.user_message_id,
            assistant_message_id=turn.assistant_message_id,
            model_id=config.model_id,
        )
        parts: list[str] = []
        async for event in _model_events(turn.model_request, stop=stop, outcome=outcome):
            if isinstance(event, TextDelta):
                parts.append(event.text)
                outcome.content = "".join(parts)
                yield TurnDelta(text=event.text, index=chunks)
                chunks += 1
    except ApplicationError as exc:
        outcome.status, outcome.error = "error", exc
    except asyncio.CancelledError:
        outcome.status = "stopped"
        await run_io(turn_finish, turn=turn, outcome=outcome)
        raise
    await run_io(turn_finish, turn=turn, outcome=outcome)
    if outcome.error is not None:
        raise _with_context(
            outcome.error, conversationId=turn.conversation_id, messageId=turn.assistant_message_id
        ) from None
    yield TurnEnded(
        conversation_id=turn.conversation_id,
        engine_type=request.engine_type,
        user_message_id=turn.user_message_id,
        assistant_message_id=turn.assistant_message_id,
        model_id=config.model_id,
        status=outcome.status,
        stop_reason=outcome.stop_reason,
        content=outcome.content,
        chunks=chunks,
        usage=usage_dict(outcome.usage, estimated=outcome.usage_estimated),
        cost_usd=outcome.cost_usd,
    )
    if not turn.history and outcome.content:
        from conversations.titles import conversation_title_generate

        title = await run_io(
            conversation_title_generate,
            user_id=request.user_id,
            conversation_id=turn.conversation_id,
            engine_type=request.engine_type,
            message=request.message,
            is_staff=request.is_staff,
        )
        if title is not None:
            yield TitleChanged(conversation_id=turn.conversation_id, title=title[0], source=title[1])


async def _until(awaitable: Any, stop_waiter: asyncio.Future, on_late: Any = None) -> Any:
    """The awaitable's result, or ``_STOPPED`` if ``stop`` fires first (``on_late`` then gets the late result)."""
    work = asyncio.ensure_future(awaitable)
    await asyncio.wait({work, stop_waiter}, return_when=asyncio.FIRST_COMPLETED)
    if work.done():
        return work.result()

    def _late(done: asyncio.Future) -> None:
        if done.cancelled() or done.exception() is not None:
            return
        if on_late is not None:
            on_late(done.result())

    work.add_done_callback(_late)
    return _STOPPED


async def _model_events(request: ModelRequest, *, stop: asyncio.Event, outcome: TurnOutcome) -> AsyncIterator[Any]:
    """Model events one at a time (each ``next()`` in the I/O pool); stops early when ``stop`` is set."""
    stop_waiter = asyncio.ensure_future(stop.wait())
    stream = None
    try:
        opened = await _until(run_io(model_backend().stream, request), stop_waiter, on_late=lambda s: s.close())
        if opened is _STOPPED:
            outcome.status = "stopped"
            return
        stream = opened
        while True:
            event = await _until(run_io(next, stream, _END), stop_waiter)
            if event is _STOPPED:
                outcome.status = "stopped"
                return
            if event is _END:
                return
            if isinstance(event, StreamStop):
                outcome.stop_reason = event.stop_reason
            elif isinstance(event, StreamUsage):
                outcome.usage = event
            else:
                yield event
    finally:
        stop_waiter.cancel()
        if stream is not None:
            await run_io(stream.close)  # closes the HTTP stream: Bedrock stops generating


async def _replay(request: TurnRequest, replay: TurnReplay) -> AsyncIterator[TurnEvent]:
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
    model_id = (message.model_id if message is not None else None) or ""
    yield TurnStarted(
        conversation_id=record.conversation_id,
        engine_type=request.engine_type,
        user_message_id=record.user_message_id or "",
        assistant_message_id=record.assistant_message_id or "",
        model_id=model_id,
        replayed=True,
    )
    if content:
        yield TurnDelta(text=content, index=0)
    usage = None
    if message is not None:
        usage = StreamUsage(
            input_tokens=int(message.input_tokens or 0),
            output_tokens=int(message.output_tokens or 0),
            cache_read_tokens=int(message.cache_read_tokens or 0),
            cache_write_tokens=int(message.cache_write_tokens or 0),
        )
    yield TurnEnded(
        conversation_id=record.conversation_id,
        engine_type=request.engine_type,
        user_message_id=record.user_message_id or "",
        assistant_message_id=record.assistant_message_id or "",
        model_id=model_id,
        status=record.status,
        stop_reason=result.get("stopReason"),
        content=content,
        chunks=1 if content else 0,
        usage=usage_dict(usage, estimated=bool(message and message.usage_estimated)),
        cost_usd=message.cost_usd if message is not None else None,
        replayed=True,
    )
