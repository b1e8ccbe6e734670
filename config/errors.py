"""The application's one error vocabulary, shared by REST (exception handler) and WebSocket (consumer).

Every error has a stable machine-readable ``code``; clients branch on the code, never on the message.
"""

from typing import Any

from django.utils.translation import gettext_lazy as _


class ApplicationError(Exception):
    code = "error"
    status = 400
    message = _("The request could not be processed.")
    retryable = False

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        status: int | None = None,
        retryable: bool | None = None,
        **extra: Any,
    ) -> None:
        self.message = message or self.message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        if retryable is not None:
            self.retryable = retryable
        self.extra = extra
        super().__init__(self.message)

    def as_dict(self) -> dict[str, Any]:
        """The body both transports render: the original SPA reads ``error``."""
        # str(): a message may be lazy (gettext_lazy), rendered in the language active for this request/socket.
        return {"error": str(self.message), "code": self.code, **self.extra}


class ValidationFailed(ApplicationError):
    code = "invalid"
    status = 400
    message = _("The request is not valid.")


class BadRequest(ApplicationError):
    """What Django refuses before a view runs (a malformed or suspicious request)."""

    code = "bad_request"
    status = 400
    message = _("Bad request.")


class NotAuthenticated(ApplicationError):
    code = "not_authenticated"
    status = 401
    message = _("Authentication credentials were not provided or are not valid.")


class Forbidden(ApplicationError):
    code = "forbidden"
    status = 403
    message = _("You do not have permission to do this.")


class NotFound(ApplicationError):
    code = "not_found"
    status = 404
    message = _("Not found.")


class MethodNotAllowed(ApplicationError):
    code = "method_not_allowed"
    status = 405

    def __init__(self, method: str, **kwargs: Any) -> None:
        super().__init__(_('Method "%(method)s" not allowed.') % {"method": method}, **kwargs)


class Conflict(ApplicationError):
    code = "conflict"
    status = 409
    message = _("The resource was changed by someone else; reload and try again.")


class PayloadTooLarge(ApplicationError):
    code = "request_too_large"
    status = 413
    message = "The request body is too large."


class QuotaExceeded(ApplicationError):
    code = "quota_exceeded"
    status = 429
    message = _("Your token allowance for this period is used up.")


class RateLimited(ApplicationError):
    code = "rate_limited"
    status = 429
    message = _("Too many requests; slow down.")
    retryable = True


class UpstreamUnavailable(ApplicationError):
    code = "upstream_unavailable"
    status = 503
    message = _("A service this request depends on is unavailable; try again shortly.")
    retryable = True


class DynamoDBUnavailable(UpstreamUnavailable):
    """DynamoDB did not answer, or kept failing after botocore's retries (config/dynamodb/outages.py)."""

    code = "dynamodb_unavailable"
    message = "The database is unavailable; try again shortly."


class ServerError(ApplicationError):
    """A crash: the body says nothing about it, the log does."""

    code = "server_error"
    status = 500
    message = _("Internal server error.")
