"""An HTTP(S) registry's address and how to talk to it: TLS with an optional private CA, a
timeout per request, retries with exponential backoff for what may pass (no connection, no
answer in time, a 5xx, a connection dropped mid-body), and a code for every failure."""

from __future__ import annotations

import http.client
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from contracts.codes import Code
from contracts.errors import OperationFailed

T = TypeVar("T")
Response = http.client.HTTPResponse


def is_url(location: str) -> bool:
    return location.startswith(("https://", "http://"))


@dataclass(frozen=True)
class HttpSource:
    url: str  # the folder holding index.json, without a trailing slash
    ca_file: Path | None = None
    timeout_s: float = 30.0
    retries: int = 4
    backoff_s: float = 0.5

    def __post_init__(self) -> None:
        object.__setattr__(self, "url", self.url.rstrip("/"))

    def context(self) -> ssl.SSLContext | None:
        if not self.url.startswith("https://"):
            return None
        return ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)

    def open(self, path: str, headers: dict[str, str] | None = None) -> Response:
        """One GET (no retry): the response of a 2xx or 304; an error status raises
        REGISTRY_HTTP_ERROR, a failure to connect REGISTRY_UNREACHABLE or REGISTRY_TLS_FAILED
        (marked `retry` when another attempt may pass)."""
        url = f"{self.url}/{path}"
        request = urllib.request.Request(url, headers=headers or {})
        try:
            response: Response = urllib.request.urlopen(
                request, timeout=self.timeout_s, context=self.context())
            return response
        except urllib.error.HTTPError as err:
            if err.code == 304:
                return err  # type: ignore[return-value]  # its headers and empty body
            raise RegistryFailed(Code.REGISTRY_HTTP_ERROR,
                                 f"{url} answered {err.code} {err.reason}", url,
                                 retry=err.code >= 500, status=err.code) from None
        except urllib.error.URLError as err:
            reason = err.reason
            if isinstance(reason, ssl.SSLCertVerificationError):
                raise RegistryFailed(Code.REGISTRY_TLS_FAILED,
                                     f"{url}: {reason.verify_message}", url,
                                     retry=False) from None
            raise RegistryFailed(Code.REGISTRY_UNREACHABLE, f"{url}: {reason}", url) from None
        except (TimeoutError, ConnectionError, http.client.HTTPException) as err:
            raise RegistryFailed(Code.REGISTRY_UNREACHABLE, f"{url}: {err or type(err).__name__}",
                                 url) from None

    def retrying(self, attempt: Callable[[], T]) -> T:
        """`attempt` again after a failure marked retryable, waiting backoff_s, 2x, 4x..."""
        for tried in range(self.retries + 1):
            try:
                return attempt()
            except RegistryFailed as failed:
                if not failed.retry or tried == self.retries:
                    raise
            time.sleep(self.backoff_s * 2 ** tried)
        raise AssertionError("unreachable")


class RegistryFailed(OperationFailed):
    """A request to an HTTP registry failed; `retry`: another attempt may pass; `status`: the
    HTTP status it answered, if it answered."""

    def __init__(self, code: str, message: str, where: str, retry: bool = True,
                 status: int | None = None) -> None:
        super().__init__(code, message, where=where)
        self.retry = retry
        self.status = status

