def test_static_assets_are_served_without_debug_or_collectstatic(client, settings):
    """daphne serves no static files; WhiteNoise must, or the chat page and Swagger UI break in production."""
    assert settings.DEBUG is False
    response = client.get("/static/conversations/chat.js")
    assert response.status_code == 200
    assert b"WebSocket" in b"".join(response.streaming_content)
