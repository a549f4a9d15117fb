"""The pages that change servers. Included before jobs.urls, which owns `/servers/` and
`/servers/<name>/`: these are `add/` (a reserved server name) or one level deeper."""

from django.urls import path

from servers import views

app_name = "servers"

urlpatterns = [
    path("add/", views.add, name="add"),
    path("<slug:name>/edit/", views.edit, name="edit"),
    path("<slug:name>/repin/", views.repin, name="repin"),
]
