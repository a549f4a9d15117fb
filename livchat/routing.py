from django.urls import path

websocket_urlpatterns: list = []

try:
    from jobs.consumers import JobListConsumer, JobLogConsumer

    websocket_urlpatterns = [
        path("ws/jobs/", JobListConsumer.as_asgi()),
        path("ws/jobs/<str:job_id>/", JobLogConsumer.as_asgi()),
    ]
except ImportError:  # consumers arrive with the live-web work
    pass
