"""The project's URLs: the admin, the JSON API, Django's login pages and every HTML page
(web/urls.py, the one file that says where each page lives)."""

from django.contrib import admin
from django.urls import include, path

from livchat.api import api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("web.urls")),
]
