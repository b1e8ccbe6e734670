"""WebSocket authentication (config/auth/websocket.py): ?token=, the bearer subprotocol, the session, refusals.

A tiny consumer reports what the stack put in the scope; the real chat consumer shows the close codes a client
gets.
"""

import threading

import pytest
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.test import Client

from config.auth import websocket as ws_auth
from config.auth.identity import owner_id
from config.auth.websocket import close_code_for, websocket_auth_stack
from config.errors import ApplicationError, Forbidden, NotAuthenticated, UpstreamUnavailable
from conversations.routing import websocket_urlpatterns
from tests.jwt_helpers import OTHER_CLIENT_ID, SigningKey

pytestmark = pytest.mark.django_db(transaction=True)


class ScopeReporter(AsyncJsonWebsocketConsumer):
    async def connect(self):
        await self.accept()
        user = self.scope["user"]
        error = self.scope.get("auth_error")
        await self.send_json(
            {
                "userId": owner_id(user) if user.is_authenticated else None,
                "isStaff": bool(getattr(user, "is_staff", False)),
                "authError": {**error.as_dict(), "closeCode": close_code_for(error)} if error else None,
            }
        )


async def report(path="/ws", subprotocols=None, headers=None):
    communicator = WebsocketCommunicator(
        websocket_auth_stack(ScopeReporter.as_asgi()), path, headers=headers or [], subprotocols=subprotocols
    )
    connected, subprotocol = await communicator.connect()
    assert connected
    body = await communicator.receive_json_from()
    await communicator.disconnect()
    return body, subprotocol


async def test_token_in_the_query_string(cognito):
    body, subprotocol = await report(f"/ws?token={cognito.token(sub='sub-alice')}")
    assert body == {"userId": "sub-alice", "isStaff": False, "authError": None}
    assert subprotocol is None


async def test_token_in_the_subprotocol_and_bearer_selected(cognito):
    token = cognito.token(sub="sub-alice", groups=["admin"])
    body, subprotocol = await report(subprotocols=["bearer", f"bearer.{token}"])
    assert body["userId"] == "sub-alice"
    assert body["isStaff"] is True
    assert subprotocol == "bearer"  # selected for the consumer, which accepted without one; never the token


async def test_subprotocol_token_wins_over_the_query(cognito):
    token = cognito.token(sub="sub-from-header")
    body, _ = await report(
        f"/ws?token={cognito.token(sub='sub-from-query')}", subprotocols=["bearer", f"bearer.{token}"]
    )
    assert body["userId"] == "sub-from-header"


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("expired", "token_expired"),
        ("forged", "token_invalid"),
        ("wrong_issuer", "token_invalid"),
        ("wrong_client", "token_invalid"),
        ("alg_none", "token_invalid"),
        ("unknown_kid", "token_invalid"),
        ("null", "token_invalid"),
    ],
)
async def test_refused_tokens_leave_an_anonymous_user_and_the_reason(cognito, settings, case, code):
    settings.COGNITO_LEEWAY_SECONDS = 30
    token = {
        "expired": lambda: cognito.token(expires_in=-120),
        "forged": lambda: cognito.token(key=SigningKey("impostor"), kid=cognito.key.kid),
        "wrong_issuer": lambda: cognito.token(issuer="https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other"),
        "wrong_client": lambda: cognito.token(client_id=OTHER_CLIENT_ID),
        "alg_none": cognito.alg_none_token,
        "unknown_kid": lambda: cognito.token(key=SigningKey("never-published")),
        "null": lambda: "null",
    }[case]()
    body, _ = await report(f"/ws?token={token}")
    assert body["userId"] is None
    assert body["authError"]["code"] == code
    assert body["authError"]["closeCode"] == 4401


async def test_unknown_kid_refetches_the_keys_once(cognito):
    await report(f"/ws?token={cognito.token()}")
    assert cognito.server.fetches == 1
    await report(f"/ws?token={cognito.token(key=SigningKey('never-published'))}")
    assert cognito.server.fetches == 2
    cognito.rotate()
    body, _ = await report(f"/ws?token={cognito.token(sub='sub-rotated')}")
    assert body["userId"] == "sub-rotated"
    assert cognito.server.fetches == 3


async def test_unreachable_keys_ask_the_client_to_retry_later(cognito):
    cognito.server.fail = True
    body, _ = await report(f"/ws?token={cognito.token()}")
    assert body["authError"]["code"] == "auth_unavailable"
    assert body["authError"]["closeCode"] == 1013


@pytest.mark.parametrize(
    ("error", "close_code"),
    [
        (NotAuthenticated(), 4401),
        (Forbidden("This account is disabled."), 4403),
        (UpstreamUnavailable(code="auth_unavailable"), 1013),
        (ApplicationError("Down", status=500), 1013),
    ],
)
def test_close_codes_follow_the_error_status(error, close_code):
    assert close_code_for(error) == close_code


async def test_refusals_are_application_errors_that_say_whether_to_retry(cognito):
    cognito.server.fail = True
    scope = {}

    async def capture(inner_scope, receive, send):
        scope.update(inner_scope)

    await ws_auth.CognitoTokenMiddleware(capture)(
        {"type": "websocket", "query_string": f"token={cognito.token()}".encode()}, None, None
    )
    assert isinstance(scope["auth_error"], UpstreamUnavailable)
    assert scope["auth_error"].retryable is True
    scope.clear()
    await ws_auth.CognitoTokenMiddleware(capture)({"type": "websocket", "query_string": b"token=forged"}, None, None)
    assert isinstance(scope["auth_error"], NotAuthenticated)
    assert scope["auth_error"].retryable is False


async def test_key_fetching_runs_off_the_event_loop(cognito, monkeypatch):
    threads = []
    verify = ws_auth.cognito_token_verify

    def recording_verify(token):
        threads.append(threading.get_ident())
        return verify(token)

    monkeypatch.setattr(ws_auth, "cognito_token_verify", recording_verify)
    body, _ = await report(f"/ws?token={cognito.token()}")
    assert body["userId"] == "sub-alice"
    assert threads and threads[0] != threading.get_ident()


def _session_cookie(user):
    client = Client()
    client.force_login(user)
    return [(b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())]


async def test_session_cookie_without_a_token(user):
    from asgiref.sync import sync_to_async

    headers = await sync_to_async(_session_cookie)(user)
    body, _ = await report(headers=headers)
    assert body["userId"] == f"local:{user.pk}"


async def test_a_refused_token_does_not_fall_back_to_the_session(user):
    from asgiref.sync import sync_to_async

    headers = await sync_to_async(_session_cookie)(user)
    body, _ = await report("/ws?token=forged", headers=headers)
    assert body["userId"] is None
    assert body["authError"]["code"] == "token_invalid"


async def test_nothing_at_all_is_anonymous_without_an_error():
    body, _ = await report()
    assert body == {"userId": None, "isStaff": False, "authError": None}


# --- the real chat consumer: what a client sees ------------------------------------------------------------


async def chat_connect(path, subprotocols=None):
    app = websocket_auth_stack(URLRouter(websocket_urlpatterns))
    communicator = WebsocketCommunicator(app, path, subprotocols=subprotocols)
    connected, subprotocol = await communicator.connect()
    return communicator, connected, subprotocol


async def test_chat_refuses_an_expired_token_with_4401(cognito, settings):
    settings.COGNITO_LEEWAY_SECONDS = 0
    communicator, connected, subprotocol = await chat_connect(
        "/ws", subprotocols=["bearer", f"bearer.{cognito.token(expires_in=-60)}"]
    )
    assert connected
    assert subprotocol == "bearer"  # or the browser would drop the handshake before seeing the close code
    frame = await communicator.receive_json_from()
    assert frame["type"] == "error"
    assert frame["code"] == "token_expired"
    assert await communicator.receive_output() == {"type": "websocket.close", "code": 4401}


async def test_chat_refuses_alg_none_with_4401(cognito):
    communicator, _, _ = await chat_connect(f"/ws?token={cognito.alg_none_token()}")
    assert (await communicator.receive_json_from())["code"] == "token_invalid"
    assert await communicator.receive_output() == {"type": "websocket.close", "code": 4401}


async def test_chat_accepts_a_valid_token(cognito):
    communicator, connected, _ = await chat_connect(f"/ws?token={cognito.token(sub='sub-alice')}")
    assert connected
    assert await communicator.receive_nothing(timeout=0.2)
    await communicator.disconnect()
