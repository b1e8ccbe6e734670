"""One chat turn: a user message in, a streamed, persisted assistant answer out.

``turn_run`` is the use case the WebSocket consumer calls. Its steps and their DynamoDB requests (a warm engine
cache; see docs/websocket-protocol.md, "Cost of a turn"):

1. ``turn_begin``: **one** ``TransactWriteItems`` that, all or nothing, checks the cached engine revision is still
   current and active, claims the idempotency key, stores the user message, creates the conversation if needed
   and takes its one-generation lease, and takes one of the user's generation slots (cap across processes).
2. ``history_load``: **one** Query of the last messages, turned into alternating user/assistant turns.
3. ``quota_reserve`` (usage app), then the model stream, read event by event.
4. ``turn_finish``: **one** ``TransactWriteItems`` that stores the assistant message (usage, cost, status), and
   releases the lease, the slot and the idempotency key's "running" state, before ``chat_end`` is sent.

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
from pynamodb.transactions import TransactWrite

from config.aio import run_io
from config.clock import utcnow
from config.dynamodb import connection
from config.errors import ApplicationError, Conflict, RateLimited, ValidationFailed
from conversations.bedrock import ModelRequest, StreamStop, StreamUsage, TextDelta, model_backend
from conversations.ids import is_valid_conversation_id, message_key, new_conversation_id, new_message_id
from conversations.models import ActiveGenerations, Conversation, IdempotencyRecord, Message
from prompts.models import Prompt
from prompts.system_prompt import EngineConfig, engine_config_get
from usage.services import Reservation, quota_release, quota_reserve, usage_record
from usage.tokens import tokens_estimate

logger = logging.getLogger(__name__)

FALLBACK_TITLE_CHARS = 50
IDEMPOTENCY_KEY_MAX_CHARS = 128
_BEGIN_ATTEMPTS = 3
_END = object()
_STOPPED = object()

# The engine configurations this process last used; every turn's transaction re-checks the revision.
_engine_configs: dict[str, EngineConfig] = {}


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
    """A begun turn: the user message is stored, the lease and a generation slot are held."""

    request: TurnRequest
    conversation_id: str
    turn_id: str
    idempotency_key: str
    user_message_id: str
    assistant_message_id: str
    slot: str
    config: EngineConfig
    started_at: datetime


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


def _engine_config_fresh(engine_type: str) -> EngineConfig:
    config = engine_config_get(engine_type=engine_type)  # NotFound(code="engine_type_not_found")
    if not config.active:
        _engine_configs.pop(engine_type, None)
        raise ValidationFailed("This engine type is not available.", code="engine_type_inactive")
    _engine_configs[engine_type] = config
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


def _cancelled_items(exc: TransactWriteError, names: list[str]) -> set[str]:
    reasons = exc.cancellation_reasons or []
    return {name for name, reason in zip(names, reasons, strict=False) if reason and reason.code}


def turn_begin(*, request: TurnRequest) -> Turn | TurnReplay:
    """Claim everything the turn needs in one transaction; sort out whichever claim failed."""
    config = _engine_configs.get(request.engine_type) or _engine_config_fresh(request.engine_type)
    conversation_id = request.conversation_id or new_conversation_id()
    for _attempt in range(_BEGIN_ATTEMPTS):
        turn_id = new_message_id()
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
        )
        try:
            _begin_write(turn, now=now, lease_expires_at=expires_at)
        except TransactWriteError as exc:
            # Items in the order PynamoDB sends them: condition checks, puts, updates.
            failed = _cancelled_items(exc, ["prompt", "idempotency", "message", "conversation", "slots"])
            if not failed:
                raise
            if "idempotency" in failed:
                return _replay_or_refuse(request=request, conversation_id=conversation_id)
            if "prompt" in failed:
                config = _engine_config_fresh(request.engine_type)
                continue
            if "conversation" in failed:
                raise Conflict(
                    "An answer is still being generated in this conversation; wait for it or stop it.",
                    code="generation_in_progress",
                    retryable=True,
                ) from exc
            if "slots" in failed:
                if _slots_prune(user_id=request.user_id, now=now):
                    continue
                raise RateLimited(
                    f"You already have {settings.CHAT_MAX_CONCURRENT_GENERATIONS_PER_USER} answers being generated; "
                    "wait for one to finish.",
                    code="too_many_generations",
                ) from exc
            raise
        return turn
    raise RateLimited("The engine type is changing; try again.", code="engine_type_changing")


def _begin_write(turn: Turn, *, now: datetime, lease_expires_at: datetime) -> None:
    request = turn.request
    user_id = request.user_id
    conversation = Conversation(user_id, turn.conversation_id)
    conversation.version = 0  # makes PynamoDB ADD 1 to the stored version instead of resetting it to 1
    with TransactWrite(connection=connection()) as tx:
        tx.condition_check(
            Prompt,
            request.engine_type,
            condition=(Prompt.revision == turn.config.revision) & (Prompt.active == True),  # noqa: E712
        )
        tx.save(
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
        tx.save(
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
            )
        )
        tx.update(
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
            add_version_condition=False,
        )
        tx.update(
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
    """The most recent stored messages before this turn's, oldest first (one Query)."""
    results = Message.query(
        message_key(user_id, conversation_id),
        Message.message_id < before_message_id,
        scan_index_forward=False,
        limit=2 * settings.CHAT_HISTORY_MAX_TURNS + 2,
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


def turn_finish(*, turn: Turn, outcome: TurnOutcome, model_id: str) -> None:
    """Store the answer and release the turn's claims in one transaction, before ``chat_end`` is sent."""
    try:
        _finish_write(turn, outcome, model_id=model_id, release_lease=True)
    except TransactWriteError as exc:
        failed = _cancelled_items(exc, ["message", "conversation", "idempotency", "slots"])
        if failed != {"conversation"}:
            raise
        # The lease ran out and another turn holds it now: store the answer, leave that turn's lease alone.
        logger.warning("turn %s outlived its lease on conversation %s", turn.turn_id, turn.conversation_id)
        _finish_write(turn, outcome, model_id=model_id, release_lease=False)


def _finish_write(turn: Turn, outcome: TurnOutcome, *, model_id: str, release_lease: bool) -> None:
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
    with TransactWrite(connection=connection()) as tx:
        tx.save(
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
                model_id=model_id,
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
            )
        )
        tx.update(conversation, actions=conversation_actions, condition=condition, add_version_condition=False)
        tx.update(
            IdempotencyRecord(f"{request.user_id}#{turn.idempotency_key}"),
            actions=[
                IdempotencyRecord.status.set(outcome.status),
                IdempotencyRecord.assistant_message_id.set(turn.assistant_message_id),
                IdempotencyRecord.result.set(result),
            ],
        )
        tx.update(ActiveGenerations(request.user_id), actions=[ActiveGenerations.turns.delete({turn.slot})])


def _settle(*, turn: Turn, reservation: Reservation, outcome: TurnOutcome, model_id: str, input_estimate: int) -> None:
    """Hand the usage to the usage app: recorded (estimated when the stream was cut) or the reservation released."""
    if outcome.usage is None:
        if not outcome.content:
            quota_release(reservation=reservation)
            return
        outcome.usage = StreamUsage(input_tokens=input_estimate, output_tokens=tokens_estimate(outcome.content))
        outcome.usage_estimated = True
    usage = outcome.usage
    charge = usage_record(
        reservation=reservation,
        model_id=model_id,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        cache_write_tokens=usage.cache_write_tokens,
        estimated=outcome.usage_estimated,
        kind="chat",
    )
    outcome.cost_usd = charge.cost_usd
    outcome.price_version = charge.price_version


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
    reservation: Reservation | None = None
    stored: list[Message] = []
    input_estimate = chunks = 0
    try:
        stored = await run_io(
            history_load,
            user_id=request.user_id,
            conversation_id=turn.conversation_id,
            before_message_id=turn.user_message_id,
        )
        history = history_turns(
            stored, max_turns=settings.CHAT_HISTORY_MAX_TURNS, token_budget=settings.CHAT_HISTORY_TOKEN_BUDGET
        )
        model_request = ModelRequest(
            model_id=config.model_id,
            system_text=config.system_text,
            messages=[*history, {"role": "user", "text": request.message}],
            max_tokens=config.max_tokens,
            temperature=config.temperature,
            top_p=config.top_p,
        )
        input_estimate = tokens_estimate(config.system_text) + sum(
            tokens_estimate(m["text"]) for m in model_request.messages
        )
        reservation = await run_io(
            quota_reserve,
            user_id=request.user_id,
            engine_type=request.engine_type,
            estimated_input_tokens=input_estimate,
            max_output_tokens=config.max_tokens,
            is_staff=request.is_staff,
        )
        model_request = replace(model_request, max_tokens=reservation.max_output_tokens)
        yield TurnStarted(
            conversation_id=turn.conversation_id,
            engine_type=request.engine_type,
            user_message_id=turn.user_message_id,
            assistant_message_id=turn.assistant_message_id,
            model_id=config.model_id,
        )
        parts: list[str] = []
        async for event in _model_events(model_request, stop=stop, outcome=outcome):
            if isinstance(event, TextDelta):
                parts.append(event.text)
                outcome.content = "".join(parts)
                yield TurnDelta(text=event.text, index=chunks)
                chunks += 1
    except ApplicationError as exc:
        outcome.status, outcome.error = "error", exc
    except asyncio.CancelledError:
        outcome.status = "stopped"
        await _close_out(turn, reservation, outcome, input_estimate=input_estimate)
        raise
    await _close_out(turn, reservation, outcome, input_estimate=input_estimate)
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
    if not stored and outcome.content:
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


async def _close_out(turn: Turn, reservation: Reservation | None, outcome: TurnOutcome, *, input_estimate: int) -> None:
    """Settle the usage (a failure there is logged, never lost as an answer), then store the answer."""
    if reservation is not None:
        try:
            await run_io(
                _settle,
                turn=turn,
                reservation=reservation,
                outcome=outcome,
                model_id=turn.config.model_id,
                input_estimate=input_estimate,
            )
        except Exception:
            logger.exception("settling the usage of turn %s failed", turn.turn_id)
    await run_io(turn_finish, turn=turn, outcome=outcome, model_id=turn.config.model_id)


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
