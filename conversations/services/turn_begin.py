"""Beginning a chat turn: read the history, then claim everything the turn needs in one transaction.

Warm caches (engine type, plan): two DynamoDB requests, the history Query (skipped for a conversation the server
creates now) and one ``TransactWriteItems`` of four parts (``turn_parts``, ``EngineTypeCurrent``, the quota's
``QuotaClaim``), all or nothing. Each part sorts out its own failed conditions (docs/websocket-protocol.md).
"""

from django.conf import settings

from config.dynamodb.transactions import transact
from conversations.ids import new_conversation_id, new_message_id
from conversations.models import Message
from conversations.selectors import message_history_list
from conversations.services.turn_checkpoints import AnswerPlaceholder
from conversations.services.turn_parts import GenerationSlot, TurnClaims, TurnKeyUsed, TurnQuota, answer_id
from conversations.services.turn_recovery import turn_recover
from conversations.services.turn_replay import turn_replay_get
from conversations.services.turn_types import Turn, TurnAttach, TurnReplay, TurnRequest
from prompts.services import EngineTypeCurrent
from usage.services import quota_busy

_BEGIN_ATTEMPTS = 16


def turn_begin(*, request: TurnRequest) -> Turn | TurnReplay | TurnAttach:
    """The begun turn, the replay of the finished one this idempotency key already sent, or the running one to
    attach to.

    The history is read before the claims, so the reservation is sized by the real input. A conversation id the
    server makes up now is new: it has no history to read.
    """
    engine = EngineTypeCurrent(engine_type=request.engine_type)
    conversation_id = request.conversation_id or new_conversation_id()
    turn_id = new_message_id()
    history: list[Message] = []
    if request.conversation_id is not None and not request.conversation_new:
        history = message_history_list(
            user_id=request.user_id,
            conversation_id=conversation_id,
            before_message_id=turn_id,
            limit=2 * settings.CHAT_HISTORY_MAX_TURNS + 2,
        )
    claims = TurnClaims(
        request=request,
        conversation_id=conversation_id,
        turn_id=turn_id,
        engine=engine,
        recover=lambda: turn_recover(user_id=request.user_id, conversation_id=conversation_id) is not None,
    )
    slot = GenerationSlot(user_id=request.user_id, turn_id=turn_id)
    quota = TurnQuota(request=request, engine=engine, history=history)
    answer = AnswerPlaceholder(claims=claims, slot=slot, quota=quota)
    try:
        transact([claims, engine, slot, quota, answer], attempts=_BEGIN_ATTEMPTS, busy_error=quota_busy())
    except TurnKeyUsed:
        return turn_replay_get(request=request)
    return Turn(
        request=request,
        conversation_id=conversation_id,
        turn_id=turn_id,
        idempotency_key=claims.idempotency_key,
        user_message_id=turn_id,
        assistant_message_id=answer_id(turn_id),
        slot=slot.entry,
        config=engine.config,
        history=history,
        model_request=quota.model_request,
        input_estimate=quota.input_estimate,
        reservation=quota.reservation,
        refusal=quota.refusal,
    )
