"""The one error base: every failure a user can cause carries a stable code, where it happened,
what went wrong and what to do next, plus the exit code and HTTP status it maps to."""

from __future__ import annotations

from typing import Any

from contracts.codes import remedy

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class PluginopsError(Exception):
    """A failure with a stable `code` (`contracts.codes.Code`), a `where` (file, field or object)
    and a `next_step` (the code's remedy from the table, unless the caller knows a more precise
    one for this case). `cause` names what lies behind a general code (the preflight finding
    behind PREFLIGHT_FAILED); it is the code itself otherwise.

    >>> from contracts.codes import Code
    >>> err = PluginopsError(Code.REGISTRY_INDEX_INVALID, "index.json is not JSON",
    ...                      where="reg/index.json")
    >>> err.exit_code, err.code
    (2, 'REGISTRY_INDEX_INVALID')
    >>> err.next_step
    "Restore index.json from the registry's history or backup."
    """

    exit_code: int = EXIT_USAGE
    http_status: int = 400

    def __init__(
        self,
        code: str,
        message: str,
        *,
        where: str = "",
        next_step: str = "",
        exit_code: int | None = None,
        http_status: int | None = None,
        cause: str = "",
    ) -> None:
        super().__init__(message)
        self.code = str(code)
        self.cause = str(cause or code)  # the finding or condition behind the code
        self.message = message
        self.where = where
        self.next_step = next_step or remedy(code)
        if exit_code is not None:
            self.exit_code = exit_code
        if http_status is not None:
            self.http_status = http_status

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "where": self.where,
            "message": self.message,
            "next_step": self.next_step,
        }

    def __str__(self) -> str:
        where = f"{self.where}: " if self.where else ""
        return f"[{self.code}] {where}{self.message}"


class OperationFailed(PluginopsError):
    """The input was fine but the operation did not succeed (exit 1)."""

    exit_code = EXIT_FAILED
    http_status = 409


class Unavailable(OperationFailed):
    """Busy for now, not broken: 503 with `Retry-After` (an API answer), exit 1 (a command)."""

    http_status = 503

    def __init__(self, code: str, message: str, retry_after_s: int, *, where: str = "",
                 next_step: str = "") -> None:
        super().__init__(code, message, where=where, next_step=next_step)
        self.retry_after_s = max(1, retry_after_s)
