"""Every API error as JSON `{"code", "detail", "fields"?}` (API.md, Conventions)."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response

from pandorakart_wa.core.correlation import get_correlation_id
from pandorakart_wa.core.errors import ApplicationError

logger = logging.getLogger(__name__)

_CODES: dict[type[exceptions.APIException], str] = {
    exceptions.ValidationError: "invalid",
    exceptions.ParseError: "invalid",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "not_authenticated",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
}


class PolicyRefused(exceptions.APIException):
    """422: the request is well-formed but policy forbids it (`code` is an API.md policy code)."""

    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "Policy forbids this request."

    def __init__(self, code: str, detail: str | None = None) -> None:
        super().__init__(detail=detail or self.default_detail, code=code)
        self.policy_code = code


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with an earlier one."

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail=detail, code=code)
        self.conflict_code = code


class CodedError(exceptions.APIException):
    """An error with its own API.md code at any status, optionally with Retry-After (seconds)."""

    def __init__(self, status_code: int, code: str, detail: str, *, retry_after: int | None = None) -> None:
        super().__init__(detail=detail, code=code)
        self.status_code = status_code
        self.error_code = code
        self.retry_after = retry_after


def invalid(fields: dict[str, list[str] | str], detail: str | None = None) -> exceptions.ValidationError:
    """A 400 naming the fields at fault, for checks made outside a serializer."""
    error = exceptions.ValidationError({k: v if isinstance(v, list) else [v] for k, v in fields.items()})
    if detail:
        error.summary = detail  # type: ignore[attr-defined]
    return error


def _flatten(errors: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error structure as {"field.sub": ["message", ...]}."""
    flat: dict[str, list[str]] = {}
    if isinstance(errors, dict):
        for key, value in errors.items():
            name = str(key) if not prefix else f"{prefix}.{key}"
            if key == "non_field_errors" and not prefix:
                name = "non_field_errors"
            flat.update(_flatten(value, name))
    elif isinstance(errors, list):
        if all(not isinstance(e, (dict, list)) for e in errors):
            flat[prefix or "non_field_errors"] = [str(e) for e in errors]
        else:
            for index, value in enumerate(errors):
                if value:
                    flat.update(_flatten(value, f"{prefix}.{index}" if prefix else str(index)))
    else:
        flat[prefix or "non_field_errors"] = [str(errors)]
    return flat


def error_body(code: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {"code": code, "detail": detail, **extra}


def api_exception(error: ApplicationError) -> exceptions.APIException:
    """A service's refusal as the API answers it: 400 naming the fields, 409, 422, or its own status."""
    if error.status == 400:
        return invalid(dict(error.fields) or {"non_field_errors": str(error)})
    if error.status == 422:
        return PolicyRefused(error.code, str(error))
    if error.status == 409:
        return Conflict(error.code, str(error))
    return CodedError(error.status, error.code, str(error))


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    if isinstance(exc, ApplicationError):
        exc = api_exception(exc)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        return Response(error_body("too_large", "The request body is larger than the limit."), status=413)

    if not isinstance(exc, exceptions.APIException):
        return Response(server_error_body(exc), status=500)

    headers: dict[str, str] = {}
    wait = getattr(exc, "wait", None)
    if isinstance(exc, exceptions.Throttled) and wait is not None:
        headers["Retry-After"] = str(max(1, int(wait + 0.999)))
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        headers["WWW-Authenticate"] = "Api-Key"

    if isinstance(exc, CodedError):
        body = error_body(exc.error_code, str(exc.detail))
        if exc.retry_after is not None:
            headers["Retry-After"] = str(exc.retry_after)
    elif isinstance(exc, PolicyRefused):
        body = error_body(exc.policy_code, str(exc.detail))
    elif isinstance(exc, Conflict):
        body = error_body(exc.conflict_code, str(exc.detail))
    elif isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        named = ", ".join(sorted(fields))
        detail = getattr(exc, "summary", None) or f"Some fields are missing or invalid: {named}."
        body = error_body("invalid", detail, fields=fields)
    else:
        code = next((c for cls, c in _CODES.items() if isinstance(exc, cls)), None)
        if code is None:
            codes = exc.get_codes()
            code = codes if isinstance(codes, str) else "error"
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        body = error_body(code, str(detail))
    return Response(body, status=exc.status_code, headers=headers)


def server_error_body(exc: BaseException | None = None) -> dict[str, Any]:
    cid = get_correlation_id()
    if exc is not None:
        logger.error("Unhandled API error (correlation id %s)", cid, exc_info=exc)
    return error_body(
        "server_error",
        "Something went wrong on our side. Quote the correlation id when reporting it.",
        correlation_id=cid,
    )


# --- Django-level handlers (paths outside DRF views, and errors before a view runs) -------


def _wants_html(request: HttpRequest) -> bool:
    """Staff pages and the public policy page keep Django's HTML error pages."""
    if request.path.startswith(("/api/", "/webhooks/", "/health")):
        return False
    return "text/html" in request.headers.get("Accept", "")


def json_404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _wants_html(request):
        return defaults.page_not_found(request, exception or Http404())
    return JsonResponse(error_body("not_found", f"Nothing is at {request.path}."), status=404)


def json_500(request: HttpRequest) -> HttpResponse:
    if _wants_html(request):
        return defaults.server_error(request)
    return JsonResponse(server_error_body(), status=500)


def json_400(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    if isinstance(exception, RequestDataTooBig):
        return JsonResponse(error_body("too_large", "The request body is larger than the limit."), status=413)
    return JsonResponse(error_body("invalid", "The request could not be understood."), status=400)


def json_403(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(error_body("permission_denied", "You may not do this."), status=403)
