"""The exception tree every part of smarketing-sync raises and catches.

SyncError
├── ConfigError          bad settings, mapping or rule file; unknown connector. Never retried.
│   └── AuthError        401/403 from a vendor: a missing scope or an expired credential.
├── TransientError       5xx, timeouts, dropped connections. Retried by the HTTP layer.
│   ├── RateLimited      429, or a remaining-header at 0; carries retry_after.
│   └── GarbledAnswer    an answer that is not JSON (cut off): the request's effect is unknown.
├── RecordError          one record or one batch was rejected; it is dead-lettered, the run goes on.
│   └── ContractError    a vendor payload that violates the vendor's own published contract.
└── StoreError           the store is locked, full or unreachable.
"""

from __future__ import annotations


class SyncError(Exception):
    """Base of every error smarketing-sync raises on purpose."""


class ConfigError(SyncError):
    """Configuration, mapping or rule file is wrong; the message says where and how to fix it."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        key: str | None = None,
        expected: str | None = None,
        found: object = None,
    ) -> None:
        self.file = file
        self.key = key
        self.expected = expected
        self.found = found
        parts = []
        if file:
            parts.append(file)
        if key:
            parts.append(f"[{key}]")
        where = " ".join(parts)
        text = f"{where}: {message}" if where else message
        if expected is not None:
            text += f" (expected {expected}"
            text += f", found {found!r})" if found is not None else ")"
        elif found is not None:
            text += f" (found {found!r})"
        super().__init__(text)


class AuthError(ConfigError):
    """The vendor refused the credential (401) or a scope (403)."""


class TransientError(SyncError):
    """A failure that is expected to go away: retried with backoff."""

    def __init__(self, message: str, *, reason: str = "network_error") -> None:
        self.reason = reason
        super().__init__(message)


class RateLimited(TransientError):
    """The vendor asked us to slow down; retry_after is in seconds when the vendor said so."""

    def __init__(
        self, message: str, *, retry_after: float | None = None, reason: str = "status_429"
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, reason=reason)


class GarbledAnswer(TransientError):
    """The vendor's answer was cut off or is not JSON.

    For a write this means the outcome is unknown (it may have taken effect), so it is retried
    like a timeout: later, through the outbox, with ``attempt > 1``.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, reason="garbled_answer")


class RecordError(SyncError):
    """One record (or one batch) was rejected; it goes to the dead-letter table with this reason."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class ContractError(RecordError):
    """A vendor answered with something its published contract does not allow."""


class StoreError(SyncError):
    """The store cannot be used right now (locked, full, unreachable)."""
