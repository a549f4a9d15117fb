"""Answers under /api/ are always JSON, also when Django itself refuses a request."""

import logging

from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse

logger = logging.getLogger("livchat.api")


class JsonErrorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.path.startswith("/api/") and response.status_code in (404, 405) and not _is_json(response):
            message = "Not found." if response.status_code == 404 else "Method not allowed."
            return JsonResponse({"error": message}, status=response.status_code)
        return response

    def process_exception(self, request, exception):
        if not request.path.startswith("/api/"):
            return None
        if isinstance(exception, RequestDataTooBig):
            return JsonResponse({"error": "Request body too large."}, status=413)
        logger.exception("Unhandled error on %s", request.path)
        return JsonResponse({"error": "Internal error; it has been logged."}, status=500)


def _is_json(response) -> bool:
    return response.get("Content-Type", "").startswith("application/json")
