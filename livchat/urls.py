from django.contrib import admin
from django.urls import include, path

from livchat.api import api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("accounts/", include("accounts.urls")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("templates/", include("automation.urls")),
    path("servers/", include("servers.urls")),  # before jobs.urls: add/, <name>/edit/, <name>/repin/
    path("", include("jobs.urls")),
]
