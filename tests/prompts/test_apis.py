"""REST API of engine types and knowledge files: public fields for users, everything and writes for staff."""

import pytest

from prompts.models import EngineType, KnowledgeFile
from prompts.services import knowledge_file_add
from tests.factories import engine_type_make

pytestmark = pytest.mark.django_db

SECRET = "TOP-SECRET-INSTRUCTION"
FILE_TEXT = "CONFIDENTIAL-KNOWLEDGE"
PUBLIC_KEYS = {"promptId", "engineType", "name", "description", "retentionDays"}


@pytest.fixture
def as_user(cognito):
    return cognito.headers(sub="sub-alice")


@pytest.fixture
def as_staff(cognito):
    return cognito.headers(sub="sub-staff", groups=["admin"])


@pytest.fixture
def style_file():
    """The engine type "11" with a secret instruction and one knowledge file (returned)."""
    engine_type_make(name="금융", description="Financial press releases", instruction=SECRET)
    return knowledge_file_add(engine_type="11", file_name="style.txt", content=FILE_TEXT)


@pytest.fixture
def inactive_engine():
    engine_type_make("33", name="Hidden", description="Not yet", instruction=SECRET, active=False)


def send(client, method, path, headers, body=None):
    return getattr(client, method)(path, body or {}, content_type="application/json", headers=headers)


class TestRead:
    def test_user_lists_active_engines_without_the_system_prompt(self, client, as_user, style_file, inactive_engine):
        response = client.get("/api/prompts", headers=as_user)
        assert response.status_code == 200
        assert response.json() == {
            "prompts": [
                {
                    "promptId": "11",
                    "engineType": "11",
                    "name": "금융",
                    "description": "Financial press releases",
                    "retentionDays": 0,
                }
            ]
        }

    def test_staff_lists_everything(self, client, as_staff, style_file, inactive_engine):
        prompts = client.get("/api/prompts", headers=as_staff).json()["prompts"]
        assert [p["engineType"] for p in prompts] == ["11", "33"]
        assert prompts[0]["instruction"] == SECRET
        assert prompts[1]["active"] is False

    def test_user_reads_an_engine_without_instruction_or_files(self, client, as_user, style_file):
        response = client.get("/api/prompts/11", headers=as_user)
        assert response.status_code == 200
        assert set(response.json()["prompt"]) == PUBLIC_KEYS
        assert response.json()["files"] == []
        assert SECRET not in response.content.decode()
        assert FILE_TEXT not in response.content.decode()

    def test_staff_reads_instruction_and_files(self, client, as_staff, style_file):
        body = client.get("/api/prompts/11", headers=as_staff).json()
        assert body["prompt"]["instruction"] == SECRET
        assert body["files"][0]["fileId"] == style_file.file_id
        assert body["files"][0]["fileName"] == "style.txt"
        assert body["files"][0]["fileContent"] == FILE_TEXT

    def test_inactive_engine_is_404_for_users_only(self, client, as_user, as_staff, inactive_engine):
        assert client.get("/api/prompts/33", headers=as_user).status_code == 404
        assert client.get("/api/prompts/33", headers=as_staff).status_code == 200

    @pytest.mark.parametrize("path", ["/api/prompts/99", "/api/prompts/bad%20id", "/api/prompts/" + "x" * 40])
    def test_unknown_engine_is_404(self, client, as_user, path):
        response = client.get(path, headers=as_user)
        assert response.status_code == 404
        assert response.json()["code"] == "engine_type_not_found"

    def test_anonymous_is_401(self, client, style_file):
        assert client.get("/api/prompts").status_code == 401
        assert client.get("/api/prompts/11").status_code == 401


class TestWrite:
    def test_put_on_a_fresh_install_creates_the_engine(self, client, as_staff):
        response = send(client, "put", "/api/prompts/11", as_staff, {"instruction": "Be brief."})
        assert response.status_code == 201
        assert response.json()["promptId"] == "11"
        assert response.json()["prompt"]["instruction"] == "Be brief."
        assert EngineType.get("11").instruction == "Be brief."

    def test_put_changes_only_the_given_fields(self, client, as_staff, style_file):
        response = send(client, "put", "/api/prompts/11", as_staff, {"description": "New persona"})
        assert response.status_code == 200
        assert response.json()["message"] == "Prompt updated successfully"
        stored = EngineType.get("11")
        assert (stored.description, stored.instruction) == ("New persona", SECRET)

    def test_post_creates_then_updates(self, client, as_staff):
        first = send(client, "post", "/api/prompts/22", as_staff, {"description": "d", "instruction": "i"})
        assert first.status_code == 201
        again = send(client, "post", "/api/prompts/22", as_staff, {"instruction": "i2"})
        assert again.status_code == 200
        assert EngineType.get("22").instruction == "i2"

    def test_stale_version_is_409(self, client, as_staff, style_file):
        version = client.get("/api/prompts/11", headers=as_staff).json()["prompt"]["version"]
        assert send(client, "put", "/api/prompts/11", as_staff, {"name": "a", "version": version}).status_code == 200
        response = send(client, "put", "/api/prompts/11", as_staff, {"name": "b", "version": version})
        assert response.status_code == 409
        assert response.json()["code"] == "edit_conflict"
        assert EngineType.get("11").name == "a"

    @pytest.mark.parametrize(
        ("body", "field"),
        [({"temperature": 2}, "temperature"), ({"maxTokens": 0}, "maxTokens"), ({"active": "x"}, "active")],
    )
    def test_validation(self, client, as_staff, style_file, body, field):
        response = send(client, "put", "/api/prompts/11", as_staff, body)
        assert response.status_code == 400
        assert field in response.json()["fields"]

    def test_tiny_probabilities_are_rounded_not_a_500(self, client, as_staff, style_file):
        # Found by the schema-driven run: DynamoDB cannot store 9.7e-215.
        response = send(
            client, "put", "/api/prompts/11", as_staff, {"topP": 9.661333468706284e-215, "temperature": 0.12345}
        )
        assert response.status_code == 200
        assert (response.json()["prompt"]["topP"], response.json()["prompt"]["temperature"]) == (0.0, 0.1235)

    def test_delete(self, client, as_staff, style_file):
        response = client.delete("/api/prompts/11", headers=as_staff)
        assert response.status_code == 200
        assert response.json()["message"] == "Prompt deleted successfully"
        assert client.get("/api/prompts/11", headers=as_staff).status_code == 404
        assert list(KnowledgeFile.query("11")) == []

    def test_delete_unknown_is_404(self, client, as_staff):
        assert client.delete("/api/prompts/99", headers=as_staff).status_code == 404

    @pytest.mark.parametrize(
        ("method", "path"), [("put", "/api/prompts/11"), ("post", "/api/prompts/11"), ("delete", "/api/prompts/11")]
    )
    def test_users_cannot_write(self, client, as_user, style_file, method, path):
        response = send(client, method, path, as_user, {"instruction": "Reveal everything."})
        assert response.status_code == 403
        assert EngineType.get("11").instruction == SECRET

    def test_users_cannot_create_engines(self, client, as_user):
        assert send(client, "put", "/api/prompts/44", as_user, {"instruction": "x"}).status_code == 403
        assert EngineType.count("44") == 0

    @pytest.mark.parametrize("method", ["put", "post", "delete"])
    def test_anonymous_is_401(self, client, style_file, method):
        assert send(client, method, "/api/prompts/11", {}, {"instruction": "x"}).status_code == 401


class TestFiles:
    def test_staff_manage_files(self, client, as_staff, style_file):
        created = send(client, "post", "/api/prompts/11/files", as_staff, {"fileName": "faq.txt", "fileContent": "Q&A"})
        assert created.status_code == 201
        file = created.json()["file"]
        assert (file["promptId"], file["fileName"], file["fileContent"]) == ("11", "faq.txt", "Q&A")
        path = f"/api/prompts/11/files/{file['fileId']}"

        listed = client.get("/api/prompts/11/files", headers=as_staff).json()["files"]
        assert [f["fileName"] for f in listed] == ["style.txt", "faq.txt"]
        assert client.get(path, headers=as_staff).json()["file"]["fileContent"] == "Q&A"

        updated = send(client, "put", path, as_staff, {"fileName": "faq-v2.txt", "fileContent": "Q&A v2"})
        assert updated.status_code == 200
        assert updated.json()["message"] == "File updated successfully"
        assert KnowledgeFile.get("11", file["fileId"]).content == "Q&A v2"

        assert client.delete(path, headers=as_staff).json() == {"message": "File deleted successfully"}
        assert client.get(path, headers=as_staff).status_code == 404

    def test_default_file_name(self, client, as_staff, style_file):
        response = send(client, "post", "/api/prompts/11/files", as_staff, {"fileContent": "text"})
        assert response.json()["file"]["fileName"] == "untitled.txt"

    def test_empty_update_is_400(self, client, as_staff, style_file):
        response = send(client, "put", f"/api/prompts/11/files/{style_file.file_id}", as_staff, {})
        assert response.status_code == 400
        assert response.json()["code"] == "no_fields"

    def test_empty_content_is_400(self, client, as_staff, style_file):
        response = send(client, "post", "/api/prompts/11/files", as_staff, {"fileName": "a.txt", "fileContent": " "})
        assert response.status_code == 400

    def test_files_of_an_unknown_engine_are_404(self, client, as_staff):
        assert client.get("/api/prompts/99/files", headers=as_staff).status_code == 404
        response = send(client, "post", "/api/prompts/99/files", as_staff, {"fileContent": "x"})
        assert response.status_code == 404

    def test_unknown_file_is_404(self, client, as_staff, style_file):
        assert client.get("/api/prompts/11/files/nope", headers=as_staff).status_code == 404
        assert send(client, "put", "/api/prompts/11/files/nope", as_staff, {"fileName": "x"}).status_code == 404
        assert client.delete("/api/prompts/11/files/nope", headers=as_staff).status_code == 404

    @pytest.mark.parametrize(
        ("method", "suffix"),
        [("get", ""), ("post", ""), ("get", "/{id}"), ("put", "/{id}"), ("delete", "/{id}")],
    )
    def test_users_get_403_and_nothing_changes(self, client, as_user, style_file, method, suffix):
        path = "/api/prompts/11/files" + suffix.format(id=style_file.file_id)
        response = send(client, method, path, as_user, {"fileName": "x.txt", "fileContent": "leak"})
        assert response.status_code == 403
        assert FILE_TEXT not in response.content.decode()
        assert [f.content for f in KnowledgeFile.query("11")] == [FILE_TEXT]

    @pytest.mark.parametrize("method", ["get", "post"])
    def test_anonymous_is_401(self, client, style_file, method):
        assert send(client, method, "/api/prompts/11/files", {}, {"fileContent": "x"}).status_code == 401
