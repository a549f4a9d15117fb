from django.urls import path

from servers import views

app_name = "servers"

# /servers/<name>/ (details + "run a command") is in jobs/urls.py: it starts jobs.
urlpatterns = [
    path("servers/", views.server_list, name="list"),
]
