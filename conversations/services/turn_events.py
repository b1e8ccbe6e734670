"""What a chat turn tells its caller (the WebSocket consumer renders each as one frame)."""

from dataclasses import asdict, dataclass

from config.bedrock.client import StreamUsage


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
    usage: StreamUsage
    usage_estimated: bool = False
    cost_usd: float | None = None
    replayed: bool = False


@dataclass(frozen=True)
class TitleChanged:
    conversation_id: str
    title: str
    source: str


TurnEvent = TurnStarted | TurnDelta | TurnEnded | TitleChanged

_KINDS: dict[str, type] = {"start": TurnStarted, "delta": TurnDelta, "end": TurnEnded, "title": TitleChanged}
_KIND_OF = {cls: kind for kind, cls in _KINDS.items()}


def turn_event_dump(event: TurnEvent) -> dict:
    """``event`` as plain data (channel layers and the replay log carry it between processes)."""
    return {"kind": _KIND_OF[type(event)], **asdict(event)}


def turn_event_load(data: dict) -> TurnEvent:
    values = dict(data)
    cls = _KINDS[values.pop("kind")]
    if cls is TurnEnded:
        values["usage"] = StreamUsage(**values["usage"])
    return cls(**values)
