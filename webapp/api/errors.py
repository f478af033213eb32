"""Errors in OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`, with the status
codes its clients map to exception classes (the `openai` package: 400 BadRequestError, 401
AuthenticationError, 404 NotFoundError, 429 RateLimitError, 5xx InternalServerError)."""

from __future__ import annotations

from typing import Any

from django.http import JsonResponse

TYPES = {400: "invalid_request_error", 401: "invalid_request_error",
         404: "invalid_request_error", 405: "invalid_request_error", 429: "requests",
         500: "server_error", 503: "server_error"}  # fmt: skip


class ApiError(Exception):
    def __init__(
        self, status: int, message: str, *, param: str | None = None, code: str | None = None,
        retry_after: int | None = None,
    ) -> None:  # fmt: skip
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code
        self.retry_after = retry_after

    def to_dict(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": TYPES.get(self.status, "api_error"),
                          "param": self.param, "code": self.code}}  # fmt: skip

    def response(self) -> JsonResponse:
        response = JsonResponse(self.to_dict(), status=self.status)
        if self.retry_after is not None:
            response["Retry-After"] = str(self.retry_after)
        return response


class InvalidFields(ApiError):
    """400 naming every invalid field (`param` is the first, the message has each)."""

    def __init__(self, problems: dict[str, str]) -> None:
        message = "; ".join(f"{field}: {why}" for field, why in problems.items())
        super().__init__(400, message, param=next(iter(problems)), code="invalid_value")
        self.problems = problems
