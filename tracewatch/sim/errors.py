"""API errors in the real server's `Status` shape."""

from __future__ import annotations

from typing import Any

_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    500: "InternalError",
}


def status(
    *, code: int, message: str, reason: str | None = None, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A failure `Status` object, keys in the order the real server writes them."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason if reason is not None else _REASONS.get(code, ""),
    }
    if details is not None:
        body["details"] = details
    body["code"] = code
    return body


class ApiError(Exception):
    """A request the server refuses; the HTTP layer turns it into a Status response."""

    def __init__(
        self,
        *,
        code: int,
        message: str,
        reason: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.body = status(code=code, message=message, reason=reason, details=details)


def not_found(*, resource: str, name: str, group: str = "") -> ApiError:
    """`pods "x" not found`."""
    qualified = f"{resource}.{group}" if group else resource
    return ApiError(
        code=404,
        message=f'{qualified} "{name}" not found',
        details={"name": name, "kind": resource},
    )


def already_exists(*, resource: str, name: str, group: str = "") -> ApiError:
    """`pods "x" already exists`."""
    qualified = f"{resource}.{group}" if group else resource
    return ApiError(
        code=409,
        reason="AlreadyExists",
        message=f'{qualified} "{name}" already exists',
        details={"name": name, "kind": resource},
    )


def conflict(*, resource: str, name: str, group: str = "", why: str | None = None) -> ApiError:
    """409 Conflict: a resourceVersion or uid precondition no longer holds."""
    qualified = f"{resource}.{group}" if group else resource
    reason = why or (
        "the object has been modified; please apply your changes to the latest version and "
        "try again"
    )
    details: dict[str, Any] = {"name": name, "kind": resource}
    if group:
        details = {"name": name, "group": group, "kind": resource}
    return ApiError(
        code=409,
        reason="Conflict",
        message=f'Operation cannot be fulfilled on {qualified} "{name}": {reason}',
        details=details,
    )


def precondition_failed(
    *, resource: str, name: str, group: str, field: str, wanted: object, actual: object
) -> ApiError:
    """409 Conflict for a DeleteOptions / PUT precondition (`field`: "UID", "ResourceVersion")."""
    return conflict(
        resource=resource,
        name=name,
        group=group,
        why=f"Precondition failed: {field} in precondition: {wanted}, "
        f"{field} in object meta: {actual}",
    )


def invalid(*, kind: str, name: str, causes: list[str], group: str = "") -> ApiError:
    """422 Invalid: `Kind "name" is invalid: <field>: <problem>, ...`."""
    details: dict[str, Any] = {"name": name, "kind": kind}
    if group:
        details = {"name": name, "group": group, "kind": kind}
    return ApiError(
        code=422, message=f'{kind} "{name}" is invalid: {", ".join(causes)}', details=details
    )


def method_not_allowed() -> ApiError:
    return ApiError(
        code=405, message="the server does not allow this method on the requested resource"
    )


def bad_request(message: str) -> ApiError:
    return ApiError(code=400, message=message)


def expired(*, requested: int, oldest: int) -> dict[str, Any]:
    """The Status a watch gets in-stream when its resourceVersion left the history."""
    return status(
        code=410, reason="Expired", message=f"too old resource version: {requested} ({oldest})"
    )
