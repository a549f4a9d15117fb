from django.urls import path

from jobs import views

app_name = "jobs"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("jobs/", views.job_list, name="list"),
    path("jobs/<str:job_id>/", views.job_detail, name="detail"),
    path("playbooks/", views.playbook_list, name="playbooks"),
    # The server pages live here: they count, list and start jobs (servers never imports jobs).
    path("servers/", views.server_list, name="servers"),
    path("servers/<slug:name>/", views.server_detail, name="server"),
]
