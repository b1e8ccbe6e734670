"""HTTP behaviour shared by every /api/ route: CORS for the SPA, per-user throttling."""

import pytest

pytestmark = pytest.mark.django_db

SPA = "https://spa.example.com"


class TestCors:
    @pytest.fixture(autouse=True)
    def _origins(self, settings):
        settings.CORS_ALLOWED_ORIGINS = [SPA]

    def preflight(self, client, origin, method="PATCH"):
        return client.options(
            "/api/conversations/11_1",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": method,
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )

    @pytest.mark.parametrize("method", ["GET", "POST", "PATCH", "DELETE", "PUT"])
    def test_preflight_of_the_spa_is_allowed(self, client, method):
        response = self.preflight(client, SPA, method)
        assert response.status_code == 200
        assert response["Access-Control-Allow-Origin"] == SPA
        allowed_headers = response["Access-Control-Allow-Headers"].lower()
        assert "authorization" in allowed_headers
        assert "content-type" in allowed_headers
        assert method in response["Access-Control-Allow-Methods"]

    def test_other_origins_get_no_cors_headers(self, client):
        response = self.preflight(client, "https://evil.example.com")
        assert "Access-Control-Allow-Origin" not in response

    def test_actual_request_carries_the_header_even_when_refused(self, client):
        response = client.get("/api/me", headers={"Origin": SPA, "Authorization": "Bearer null"})
        assert response.status_code == 401
        assert response["Access-Control-Allow-Origin"] == SPA  # so the SPA can read the 401

    def test_only_api_paths_are_cors_enabled(self, client):
        response = client.get("/healthz", headers={"Origin": SPA})
        assert "Access-Control-Allow-Origin" not in response


class TestThrottling:
    def create(self, client, headers):
        return client.post("/api/conversations", {"engineType": "11"}, content_type="application/json", headers=headers)

    def test_writes_are_limited_per_user(self, client, cognito, settings):
        settings.API_WRITE_THROTTLE_RATE = "3/min"
        alice, bob = cognito.headers(sub="sub-alice"), cognito.headers(sub="sub-bob")
        assert [self.create(client, alice).status_code for _ in range(3)] == [201, 201, 201]
        refused = self.create(client, alice)
        assert refused.status_code == 429
        assert refused.json()["code"] == "rate_limited"
        assert refused.json()["retryAfter"] > 0
        assert self.create(client, bob).status_code == 201  # another user's budget is untouched

    def test_reads_are_not_limited_by_default(self, client, cognito, settings):
        settings.API_WRITE_THROTTLE_RATE = "1/min"
        alice = cognito.headers(sub="sub-alice")
        assert self.create(client, alice).status_code == 201
        assert self.create(client, alice).status_code == 429
        assert {client.get("/api/conversations", headers=alice).status_code for _ in range(30)} == {200}

    def test_reads_can_be_limited(self, client, cognito, settings):
        settings.API_READ_THROTTLE_RATE = "2/min"
        alice = cognito.headers(sub="sub-alice")
        assert [client.get("/api/me", headers=alice).status_code for _ in range(3)] == [200, 200, 429]

    def test_off_switch(self, client, cognito, settings):
        settings.API_WRITE_THROTTLE_RATE = "off"
        alice = cognito.headers(sub="sub-alice")
        assert {self.create(client, alice).status_code for _ in range(5)} == {201}
