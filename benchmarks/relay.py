"""The bare relay baseline: a minimal ASGI WebSocket app that streams the fake model's output, nothing else.

Served by the same daphne stack and settings as the product (``daphne benchmarks.relay:application``), it speaks
the same frames (``ai_start`` → ``ai_chunk``… → ``chat_end``) from the same fake model stream, read
asynchronously on the loop, with no thread pool, no authentication, no persistence, no quota, no prompt and no
coalescing: the physical limit of the stack. The load figures of the product are reported side by side with (and
as ratios to) this app measured in the same run.
"""

import json
import os
from datetime import UTC, datetime

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")
django.setup()

from django.conf import settings  # noqa: E402

from config.bedrock.events import ModelRequest, TextDelta  # noqa: E402
from config.bedrock.fake import FakeModel  # noqa: E402

_model = FakeModel()


def _now() -> str:
    return datetime.now(UTC).isoformat()


async def _send_json(send, payload: dict) -> None:
    await send({"type": "websocket.send", "text": json.dumps(payload)})


async def _relay_turn(send, frame: dict) -> None:
    request = ModelRequest(
        model_id=settings.BEDROCK_DEFAULT_MODEL_ID,
        system_text="",
        messages=[{"role": "user", "text": str(frame.get("message", ""))}],
        max_tokens=settings.BEDROCK_DEFAULT_MAX_TOKENS,
    )
    await _send_json(send, {"type": "ai_start", "timestamp": _now()})
    index, length = 0, 0
    async for event in _model.stream(request):
        if isinstance(event, TextDelta):
            await _send_json(send, {"type": "ai_chunk", "chunk": event.text, "chunk_index": index, "timestamp": _now()})
            index += 1
            length += len(event.text)
    await _send_json(
        send,
        {
            "type": "chat_end",
            "engine": frame.get("engineType"),
            "conversationId": frame.get("conversationId"),
            "total_chunks": index,
            "response_length": length,
            "message": "응답 생성이 완료되었습니다.",
            "timestamp": _now(),
        },
    )


async def application(scope, receive, send) -> None:
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"relay"})
        return
    if scope["type"] != "websocket":
        return
    while True:
        event = await receive()
        if event["type"] == "websocket.connect":
            await send({"type": "websocket.accept"})
        elif event["type"] == "websocket.receive":
            frame = json.loads(event.get("text") or "{}")
            if frame.get("action") == "sendMessage":
                await _relay_turn(send, frame)
        elif event["type"] == "websocket.disconnect":
            return
