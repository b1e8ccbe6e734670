"""The values a chat turn passes between its steps: the request, the begun turn, its replay and its outcome."""

from dataclasses import dataclass

from config.bedrock.client import ModelRequest, StreamUsage
from config.errors import ApplicationError
from conversations.models import IdempotencyRecord, Message
from prompts.services import EngineTypeConfig
from usage.services import Reservation


@dataclass(frozen=True)
class TurnRequest:
    user_id: str
    is_staff: bool
    engine_type: str
    message: str
    conversation_id: str | None = None
    idempotency_key: str | None = None
    conversation_new: bool = False  # the id was made up by the server just now: there is no history to read


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


@dataclass(frozen=True)
class TurnAttach:
    """An idempotent resend of a turn still generating (on any process): the sender follows that turn instead."""

    conversation_id: str
    turn_id: str


@dataclass(frozen=True)
class TurnOutcome:
    """How the answer ended, as it is stored: ``usage`` is estimated (``usage_estimated``) when the stream was cut
    before the model reported it; ``cost_usd`` and ``price_version`` come from the settlement."""

    status: str = "complete"  # complete | stopped | interrupted | error
    content: str = ""
    stop_reason: str | None = None
    usage: StreamUsage | None = None
    usage_estimated: bool = False
    cost_usd: float | None = None
    price_version: str | None = None
    error: ApplicationError | None = None
