"""Secret values that cannot leak through repr, str, logs or tracebacks by accident."""

from __future__ import annotations

from typing import Any


class Secret:
    """A credential (client secret, access or refresh token).

    ``str()`` and ``repr()`` show ``'****'``; only :meth:`reveal` gives the value, so every
    place that sends a secret over the wire is explicit and easy to audit.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("a Secret wraps a string")
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('****')"

    def __str__(self) -> str:
        return "****"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secret):
            return self._value == other._value
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> Any:
        raise TypeError("Secrets are not picklable")


def reveal(value: Secret | str | None) -> str | None:
    """The plain value of an optional secret (``None`` stays ``None``)."""
    if value is None:
        return None
    return value.reveal() if isinstance(value, Secret) else value
