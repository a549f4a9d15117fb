from django.urls import path

from jobs import views

app_name = "jobs"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("jobs/", views.job_list, name="list"),
    path("jobs/<str:job_id>/", views.job_detail, name="detail"),
    path("playbooks/", views.playbook_list, name="playbooks"),
    # The server page lives here because it starts jobs (servers never imports jobs).
    path("servers/<slug:name>/", views.server_detail, name="server"),
]
