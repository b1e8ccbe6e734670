from config.dynamodb.tables import all_models, clients_build, connection


def _clients() -> list:
    return [model._get_connection().connection._client for model in all_models()] + [connection()._client]


def test_clients_build_builds_every_tables_client_once():
    built = clients_build()
    clients = _clients()

    assert built == len(all_models()) + 1
    assert all(client is not None for client in clients)
    clients_build()
    assert [id(client) for client in _clients()] == [id(client) for client in clients]  # kept, not rebuilt


def test_a_built_client_serves_requests(dynamodb):
    clients_build()
    model = all_models()[0]

    assert model.count() == 0  # the client built ahead answers like a lazily built one


def test_the_asgi_application_builds_the_clients_when_it_loads(settings, monkeypatch):
    import importlib

    import config.asgi

    calls = []
    monkeypatch.setattr("config.dynamodb.tables.clients_build", lambda: calls.append("built") or 0)
    settings.DYNAMODB_CLIENTS_AT_STARTUP = True
    importlib.reload(config.asgi)
    settings.DYNAMODB_CLIENTS_AT_STARTUP = False
    importlib.reload(config.asgi)

    assert calls == ["built"]  # once with the setting on (servers), never with it off (these tests)
