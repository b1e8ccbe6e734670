"""Cognito JWT and session authentication of the REST API (config/auth/cognito.py), seen through /api/me."""

import logging

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from config.auth.cognito import cognito_status_log
from tests.jwt_helpers import OTHER_CLIENT_ID, SigningKey

pytestmark = pytest.mark.django_db


def me(client, token=None, **headers):
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return client.get("/api/me", headers=headers)


def assert_refused(response, code="token_invalid", reason=""):
    assert response.status_code == 401, response.content
    body = response.json()
    assert body["code"] == code
    assert reason.lower() in body["error"].lower()
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


class TestValidTokens:
    def test_access_token_identifies_the_user_by_sub(self, client, cognito):
        response = me(client, cognito.token(sub="sub-alice"))
        assert response.status_code == 200
        assert response.json() == {
            "userId": "sub-alice",
            "username": "sub-alice",
            "email": "",
            "isStaff": False,
            "authMethod": "cognito",
            "groups": [],
        }

    def test_id_token_is_accepted_with_the_client_in_aud(self, client, cognito):
        token = cognito.token(sub="sub-carol", token_use="id", email="carol@example.com", email_verified=True)
        response = me(client, token)
        assert response.status_code == 200
        assert response.json()["userId"] == "sub-carol"
        assert response.json()["email"] == "carol@example.com"

    def test_expiry_within_the_leeway_is_tolerated(self, client, cognito, settings):
        settings.COGNITO_LEEWAY_SECONDS = 30
        assert me(client, cognito.token(expires_in=-10)).status_code == 200

    def test_signing_keys_are_cached_between_requests(self, client, cognito):
        for _ in range(3):
            assert me(client, cognito.token()).status_code == 200
        assert cognito.server.fetches == 1


class TestRefusedTokens:
    def test_expired(self, client, cognito, settings):
        settings.COGNITO_LEEWAY_SECONDS = 30
        assert_refused(me(client, cognito.token(expires_in=-120)), code="token_expired", reason="expired")

    def test_forged_signature(self, client, cognito):
        impostor = SigningKey("impostor")  # an attacker's key, presented under the pool's kid
        assert_refused(me(client, cognito.token(key=impostor, kid=cognito.key.kid)), reason="signature")

    def test_wrong_issuer(self, client, cognito):
        token = cognito.token(issuer="https://cognito-idp.us-east-1.amazonaws.com/us-east-1_OtherPool")
        assert_refused(me(client, token), reason="another user pool")

    def test_wrong_client_access_token(self, client, cognito):
        assert_refused(me(client, cognito.token(client_id=OTHER_CLIENT_ID)), reason="another app client")

    def test_wrong_client_id_token(self, client, cognito):
        token = cognito.token(token_use="id", client_id=OTHER_CLIENT_ID)
        assert_refused(me(client, token), reason="another app client")

    def test_alg_none(self, client, cognito):
        assert_refused(me(client, cognito.alg_none_token()), reason="RS256")

    def test_hmac_signed_with_the_public_key(self, client, cognito):
        assert_refused(me(client, cognito.hs256_token()), reason="RS256")

    def test_unknown_token_use(self, client, cognito):
        assert_refused(me(client, cognito.token(token_use="refresh")), reason="neither")

    @pytest.mark.parametrize("value", ["null", "undefined", "", "a.b.c", "Bearer", "x y"])
    def test_garbage_is_401_never_500(self, client, cognito, value):
        response = client.get("/api/me", headers={"Authorization": f"Bearer {value}"})
        assert_refused(response)

    def test_bearer_null_without_cognito_configured_is_401(self, client):
        assert_refused(client.get("/api/me", headers={"Authorization": "Bearer null"}), reason="not configured")

    def test_valid_token_refused_when_cognito_is_off(self, client, cognito, settings):
        token = cognito.token()
        settings.COGNITO_USER_POOL_ID = None
        assert_refused(me(client, token), reason="not configured")

    def test_no_credentials_is_401_with_challenge(self, client):
        assert_refused(client.get("/api/me"), code="not_authenticated")

    def test_other_schemes_are_not_ours(self, client, cognito):
        assert_refused(me(client, Authorization="Basic YWxpY2U6cHc="), code="not_authenticated")


class TestKeyRotation:
    def test_unknown_kid_refetches_once_then_refuses(self, client, cognito):
        assert me(client, cognito.token()).status_code == 200
        assert cognito.server.fetches == 1
        stranger = SigningKey("never-published")
        assert_refused(me(client, cognito.token(key=stranger)), reason="unknown key")
        assert cognito.server.fetches == 2

    def test_a_rotated_key_is_picked_up_by_the_refetch(self, client, cognito):
        assert me(client, cognito.token()).status_code == 200
        cognito.rotate()
        response = me(client, cognito.token(sub="sub-after-rotation"))
        assert response.status_code == 200
        assert response.json()["userId"] == "sub-after-rotation"
        assert cognito.server.fetches == 2

    def test_refetches_are_rate_limited_by_the_cooldown(self, client, cognito, settings):
        settings.COGNITO_JWKS_REFRESH_COOLDOWN_SECONDS = 60.0
        assert me(client, cognito.token()).status_code == 200
        stranger = SigningKey("never-published")
        for _ in range(5):
            assert_refused(me(client, cognito.token(key=stranger)), reason="unknown key")
        assert cognito.server.fetches == 1

    def test_unreachable_keys_are_503_not_401(self, client, cognito):
        cognito.server.fail = True
        response = me(client, cognito.token())
        assert response.status_code == 503
        assert response.json()["code"] == "auth_unavailable"


class TestStaff:
    def test_admin_group_makes_staff(self, client, cognito):
        response = me(client, cognito.token(sub="sub-admin", groups=["admin", "editors"]))
        assert response.json()["isStaff"] is True
        assert response.json()["groups"] == ["admin", "editors"]

    def test_other_groups_do_not(self, client, cognito):
        assert me(client, cognito.token(groups=["editors"])).json()["isStaff"] is False

    def test_configured_group_name_is_used(self, client, cognito, settings):
        settings.COGNITO_ADMIN_GROUP = "operators"
        assert me(client, cognito.token(groups=["admin"])).json()["isStaff"] is False
        assert me(client, cognito.token(groups=["operators"])).json()["isStaff"] is True

    def test_django_staff_account_named_after_the_sub(self, client, cognito):
        get_user_model().objects.create_user(username="sub-linked", is_staff=True)
        response = me(client, cognito.token(sub="sub-linked"))
        assert response.json()["isStaff"] is True
        assert response.json()["userId"] == "sub-linked"  # still the Cognito identity's data

    def test_linked_account_without_staff_flag(self, client, cognito):
        get_user_model().objects.create_user(username="sub-linked", is_staff=False)
        assert me(client, cognito.token(sub="sub-linked")).json()["isStaff"] is False

    def test_inactive_staff_account_does_not_count(self, client, cognito):
        get_user_model().objects.create_user(username="sub-linked", is_staff=True, is_active=False)
        assert me(client, cognito.token(sub="sub-linked")).json()["isStaff"] is False

    def test_verified_email_of_an_id_token_links(self, client, cognito):
        get_user_model().objects.create_user(username="ops", email="Ops@Example.com", is_staff=True)
        token = cognito.token(sub="sub-x", token_use="id", email="ops@example.com", email_verified=True)
        assert me(client, token).json()["isStaff"] is True

    def test_unverified_email_does_not_link(self, client, cognito):
        get_user_model().objects.create_user(username="ops", email="ops@example.com", is_staff=True)
        token = cognito.token(sub="sub-x", token_use="id", email="ops@example.com", email_verified=False)
        assert me(client, token).json()["isStaff"] is False

    def test_a_cognito_username_equal_to_a_django_username_does_not_link(self, client, cognito):
        get_user_model().objects.create_user(username="admin", is_staff=True, is_superuser=True)
        assert me(client, cognito.token(sub="sub-y", username="admin")).json()["isStaff"] is False


class TestSessions:
    def test_session_user(self, client, user):
        client.force_login(user)
        body = me(client).json()
        assert body["userId"] == f"local:{user.pk}"
        assert body["authMethod"] == "session"
        assert body["isStaff"] is False

    def test_session_writes_need_the_csrf_token(self, user):
        client = Client(enforce_csrf_checks=True)
        client.force_login(user)
        response = client.post("/api/conversations", {"engineType": "11"}, content_type="application/json")
        assert response.status_code == 403
        assert "CSRF" in response.json()["error"]

    def test_bearer_writes_need_no_csrf_token(self, cognito):
        client = Client(enforce_csrf_checks=True)
        response = client.post(
            "/api/conversations", {"engineType": "11"}, content_type="application/json", headers=cognito.headers()
        )
        assert response.status_code == 201


class TestStartupLog:
    def test_off_without_a_pool(self, settings, caplog):
        settings.COGNITO_USER_POOL_ID = None
        with caplog.at_level(logging.INFO, logger="config.auth.cognito"):
            cognito_status_log()
        assert "JWT authentication is off" in caplog.text

    def test_off_and_an_error_without_client_ids(self, settings, caplog):
        settings.COGNITO_USER_POOL_ID = "us-east-1_Pool"
        settings.COGNITO_APP_CLIENT_IDS = []
        with caplog.at_level(logging.INFO, logger="config.auth.cognito"):
            cognito_status_log()
        assert caplog.records[-1].levelno == logging.ERROR
        assert "COGNITO_APP_CLIENT_IDS is empty" in caplog.text

    def test_on(self, cognito, caplog):
        with caplog.at_level(logging.INFO, logger="config.auth.cognito"):
            cognito_status_log()
        assert "JWT authentication is on" in caplog.text
        assert "us-east-1_TestPool1" in caplog.text
