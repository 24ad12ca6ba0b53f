"""One error model for every connector.

- ``RetriableError``: 429, 5xx, timeouts, UNABLE_TO_LOCK_ROW, API_TEMPORARILY_UNAVAILABLE. Retried
  with exponential backoff and jitter, honouring Retry-After, a bounded number of times.
- ``RecordError``: fatal for one record (validation); becomes that record's outcome.
- ``RunFatalError``: fatal for the run (auth, a missing field, an exhausted budget, bad config).

Every error names the system, the operation, the entity, the record key and the remote code,
and never a credential: messages are built from those parts only, and remote texts pass
through ``redact`` first.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import requests
import tenacity

T = TypeVar("T")

RETRIABLE_STATUS = {408, 429, 500, 502, 503, 504}
RETRIABLE_CODES = {
    "UNABLE_TO_LOCK_ROW",
    "API_TEMPORARILY_UNAVAILABLE",
    "SERVER_UNAVAILABLE",
    "REQUEST_RUNNING_TOO_LONG",
}

# Salesforce session ids / OAuth access tokens: <org id>!<long token>
_SESSION_TOKEN = re.compile(r"\b00D[A-Za-z0-9]{12,15}![A-Za-z0-9._\-]{20,}")
_AUTH_HEADER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=\-!]{8,}")
_KEY_VALUE = re.compile(
    r"(?i)\b(password|passwd|client_secret|security_token|access_token|sessionid|x-csrf-token)"
    r"([\"']?\s*[:=]\s*[\"']?)[^\s\"'&,;]+"
)


def redact(text: str | None, *secrets: str | None) -> str:
    """Remove credentials from a text: the given secrets, and anything shaped like a token or password."""
    if not text:
        return ""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    text = _SESSION_TOKEN.sub("***", text)
    text = _AUTH_HEADER.sub(r"\1 ***", text)
    return _KEY_VALUE.sub(r"\1\2***", text)


class ConnectorError(Exception):
    """Base of the error model. ``str()`` gives one readable line with every part that is known."""

    def __init__(
        self,
        message: str,
        *,
        system: str,
        operation: str,
        entity: str | None = None,
        record_key: str | None = None,
        remote_code: str | None = None,
        status: int | None = None,
    ) -> None:
        self.message = redact(message)
        self.system = system
        self.operation = operation
        self.entity = entity
        self.record_key = record_key
        self.remote_code = remote_code
        self.status = status
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.system} {self.operation}"
        if self.entity:
            where += f" {self.entity}"
        if self.record_key:
            where += f" [{self.record_key}]"
        code = self.remote_code or (f"HTTP {self.status}" if self.status else None)
        return f"{where}: {code}: {self.message}" if code else f"{where}: {self.message}"


class RetriableError(ConnectorError):
    def __init__(self, message: str, *, retry_after: float | None = None, **parts: object) -> None:
        self.retry_after = retry_after
        super().__init__(message, **parts)  # type: ignore[arg-type]


class RecordError(ConnectorError):
    """Fatal for one record only: the batch goes on and the record's outcome says why."""


class RunFatalError(ConnectorError):
    """Stops the run: nothing later in it could succeed."""


class AuthError(RunFatalError):
    pass


class ConfigError(RunFatalError):
    """A connection or mapping is unusable, e.g. a mapped field does not exist or is not writable."""


class BudgetExhausted(RunFatalError):
    """The API budget is spent, or the reserve kept for other integrations would be touched."""


def retry_after_seconds(response: requests.Response | None) -> float | None:
    """The Retry-After header in seconds (delta form; an HTTP date is treated as unknown)."""
    return None if response is None else parse_retry_after(response.headers.get("Retry-After"))


def parse_retry_after(value: str | None) -> float | None:
    """A Retry-After value in seconds (delta form; an HTTP date, or none, is unknown: None)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, capped; Retry-After wins when the server sends it."""

    max_attempts: int = 6
    initial_seconds: float = 0.5
    max_seconds: float = 30.0
    max_retry_after: float = 120.0

    def delay(self, attempt: int, error: BaseException | None) -> float:
        if isinstance(error, RetriableError) and error.retry_after is not None:
            return min(error.retry_after, self.max_retry_after)
        return random.uniform(0, min(self.max_seconds, self.initial_seconds * 2 ** (attempt - 1)))


def call_with_retry(
    fn: Callable[[], T],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[RetriableError, int, float], None] | None = None,
) -> T:
    """Call ``fn``, retrying ``RetriableError`` per ``policy``; re-raises once attempts run out."""

    def wait(state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        delay = policy.delay(state.attempt_number, error)
        if on_retry and isinstance(error, RetriableError):
            on_retry(error, state.attempt_number, delay)
        return delay

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(RetriableError),
        stop=tenacity.stop_after_attempt(policy.max_attempts),
        wait=wait,
        sleep=sleep,
        reraise=True,
    )
    return retrying(fn)
