"""One base for every refusal a service makes (DESIGN.md "Layout": core/errors).

A service raises an `ApplicationError` subclass when the request is wrong or policy forbids it:
`code` is the stable code of API.md, `status` the HTTP status the API answers with (400 a field
is missing or wrong, 404, 409 a conflict with an earlier request, 422 policy forbids it), and
`fields` names the input at fault. The one DRF exception handler (core/api/errors.py) turns any
of them into API.md's `{"code", "detail", "fields"?}`; views do not map errors by hand. Staff
screens show `str(error)`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar


class ApplicationError(Exception):
    status: ClassVar[int] = 400
    default_code: ClassVar[str] = "invalid"

    def __init__(self, detail: str = "", *, code: str | None = None, field: str | None = None,
                 fields: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code or self.default_code
        self.field = field
        self.fields: dict[str, str] = dict(fields) if fields else ({field: detail} if field else {})


class Conflict(ApplicationError):
    """The request conflicts with an earlier one or with the current state (409)."""

    status = 409
    default_code = "conflict"


class PolicyForbids(ApplicationError):
    """Well-formed, but policy forbids it (422; `code` names the rule)."""

    status = 422
    default_code = "policy"
