from django.urls import path

from jobs.consumers import JobListConsumer, JobLogConsumer

websocket_urlpatterns = [
    path("ws/jobs/", JobListConsumer.as_asgi()),
    path("ws/jobs/<str:job_id>/", JobLogConsumer.as_asgi()),
]
