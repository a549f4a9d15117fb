"""Answers under /api/ are always JSON, also when Django itself refuses a request."""

import logging
from http import HTTPStatus

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse

logger = logging.getLogger("livchat.api")

API_PREFIX = "/api/"


def too_big_message() -> str:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    size = f"{limit / (1024 * 1024):g} MiB" if limit and limit >= 1024 * 1024 else f"{limit} bytes"
    return f"Request body too large: the limit is {size}."


class JsonErrorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.path_info.startswith(API_PREFIX) and response.status_code >= 400 and not _is_json(response):
            # Django's own refusals (unknown URL, wrong method, ...) are HTML pages.
            replacement = JsonResponse({"error": _reason(response.status_code)}, status=response.status_code)
            for header in ("Allow", "WWW-Authenticate", "Retry-After"):
                if header in response:
                    replacement[header] = response[header]
            return replacement
        return response

    def process_exception(self, request, exception):
        if not request.path_info.startswith(API_PREFIX):
            return None
        if isinstance(exception, RequestDataTooBig):
            return JsonResponse({"error": too_big_message()}, status=413)
        logger.error("Unhandled error on %s %s", request.method, request.path, exc_info=exception)
        return JsonResponse({"error": "Internal error; it has been logged."}, status=500)


def _reason(status: int) -> str:
    if status == 404:
        return "Not found."
    if status == 405:
        return "Method not allowed."
    try:
        return HTTPStatus(status).phrase + "."
    except ValueError:
        return "Request failed."


def _is_json(response) -> bool:
    return response.get("Content-Type", "").startswith("application/json")
