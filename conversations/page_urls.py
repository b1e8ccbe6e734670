"""HTML pages of the conversations app (included at the site root by config/urls.py)."""

from django.urls import path

from conversations.views import ChatLoginView, ChatLogoutView, chat_page

urlpatterns = [
    path("", chat_page, name="chat"),
    path("login/", ChatLoginView.as_view(), name="chat-login"),
    path("logout/", ChatLogoutView.as_view(), name="chat-logout"),
]
