from django.urls import path, re_path

from jobs.live.consumers import JobListConsumer, JobLogConsumer, NotFoundConsumer

websocket_urlpatterns = [
    path("ws/jobs/", JobListConsumer.as_asgi()),
    path("ws/jobs/<str:job_id>/", JobLogConsumer.as_asgi()),
    re_path(r"", NotFoundConsumer.as_asgi()),  # unknown paths are refused, not a 500
]
