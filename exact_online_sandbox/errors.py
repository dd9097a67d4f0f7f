"""Exact-shaped errors: one exception type, serialised to Exact's bodies in one place."""

from __future__ import annotations

import json
from typing import Any


class ExactApiError(Exception):
    """An error the sandbox answers the way Exact Online does.

    REST errors carry the OData v2 body ``{"error":{"code":"","message":{"lang":"","value":…}}}``;
    token-endpoint errors (``oauth=True``) carry ``{"error":…,"error_description":…}``.
    ``reason`` becomes Exact's ``Reason`` response header when given.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        reason: str | None = None,
        oauth_error: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason
        self.oauth_error = oauth_error
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        """The JSON body Exact sends for this error."""
        if self.oauth_error is not None:
            body: dict[str, Any] = {"error": self.oauth_error}
            if self.message:
                body["error_description"] = self.message
            return body
        return odata_error_body(self.message)

    def response_headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json; charset=utf-8", **self.headers}
        if self.reason:
            headers["Reason"] = self.reason
        return headers

    def body_bytes(self) -> bytes:
        return json.dumps(self.body(), separators=(",", ":")).encode()


def odata_error_body(message: str) -> dict[str, Any]:
    """Exact's REST error envelope; ``code`` and ``lang`` are empty in real responses."""
    return {"error": {"code": "", "message": {"lang": "", "value": message}}}
