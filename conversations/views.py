"""The built-in chat page (``/``) for developers running the local stack, and its login/logout pages."""

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse_lazy
from django.views.decorators.csrf import ensure_csrf_cookie


@login_required(login_url=reverse_lazy("chat-login"))
@ensure_csrf_cookie
def chat_page(request: HttpRequest) -> HttpResponse:
    """Everything after the first render goes through /api/ (REST) and /ws (the chat WebSocket)."""
    return render(request, "conversations/chat.html", {"username": request.user.get_username()})


class ChatLoginView(auth_views.LoginView):
    """Any active Django account (the admin's login only admits staff)."""

    template_name = "conversations/login.html"
    redirect_authenticated_user = True


class ChatLogoutView(auth_views.LogoutView):
    next_page = reverse_lazy("chat-login")
