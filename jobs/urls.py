from django.urls import path

from jobs import job_actions, views

app_name = "jobs"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("jobs/", views.job_list, name="list"),
    # Before jobs/<job_id>/: "activity" is no job id (those are <type>-<8 hex>).
    path("jobs/activity/", views.server_activity, name="activity"),
    path("jobs/run/", views.fleet_run, name="fleet_run"),
    path("jobs/<str:job_id>/", views.job_detail, name="detail"),
    path("jobs/<str:job_id>/rerun/", job_actions.rerun, name="rerun"),
    path("jobs/<str:job_id>/row/", views.job_row, name="row"),
    path("playbooks/", views.playbook_list, name="playbooks"),
    # The server pages live here: they count, list and start jobs (servers never imports jobs).
    path("servers/", views.server_list, name="servers"),
    path("servers/<slug:name>/", views.server_detail, name="server"),
]
