"""DynamoDBAdmin: pages declared as a map, permissions capped by the declared set, templates found by model."""

import pytest
from django.contrib.admin import AdminSite
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import path

from config.admin_pages import DynamoDBAdmin

pytestmark = [pytest.mark.urls(__name__), pytest.mark.django_db]


class GroupPages(DynamoDBAdmin):
    pages = {"": "changelist_view", "<str:object_id>/members/": "members_view"}
    permissions = frozenset({"view", "change"})

    def members_view(self, request, object_id):
        return HttpResponse(object_id)


site = AdminSite(name="admin")
site.register(Group, GroupPages)
urlpatterns = [path("admin/", site.urls)]


@pytest.fixture
def pages():
    return site.get_model_admin(Group)


@pytest.fixture
def superuser_request():
    request = RequestFactory().get("/admin/auth/group/")
    request.user = get_user_model().objects.create_superuser(username="root", password="pw-root-123")
    return request


def test_each_page_is_a_named_url(client, pages, superuser_request):
    assert pages.page_url("changelist") == "/admin/auth/group/"
    assert pages.page_url("members", "a/b") == "/admin/auth/group/a_2Fb/members/"
    client.force_login(superuser_request.user)
    assert client.get(pages.page_url("members", "g1")).content == b"g1"
    assert client.get("/admin/auth/group/add/").status_code == 404  # only the declared pages exist


def test_permissions_outside_the_declared_set_are_never_granted(pages, superuser_request):
    assert pages.has_view_permission(superuser_request) and pages.has_change_permission(superuser_request)
    assert not pages.has_add_permission(superuser_request)
    assert not pages.has_delete_permission(superuser_request)


def test_require_refuses_with_403(pages):
    pages.require(True)
    with pytest.raises(PermissionDenied):
        pages.require(False)


def test_render_finds_the_template_by_model_and_leaves_status_to_the_context(pages, superuser_request):
    response = pages.render(superuser_request, "members.html", http_status=404, status="a context value")

    assert response.template_name == "admin/auth/group/members.html"
    assert response.status_code == 404
    assert response.context_data["status"] == "a context value"
    assert response.context_data["opts"] is Group._meta
    assert response.context_data["site_header"] == site.site_header
