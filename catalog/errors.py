"""One error hierarchy for the whole catalog.

The gateway maps these to HTTP status codes in one place (gateway/errors.py); the worker maps
them to ack / nak / term in one place (indexer/worker.py). Messages never carry secrets.
"""

from __future__ import annotations


class CatalogError(Exception):
    """Base of every error the catalog raises on purpose."""

    title = "Catalog error"


class NotFoundError(CatalogError):
    title = "Not found"


class ConflictError(CatalogError):
    title = "Conflict"


class InvalidInputError(CatalogError):
    title = "Invalid input"


class PasswordRequiredError(InvalidInputError):
    """A change of where a stored password would be sent, made without the password."""

    title = "Password required"


class AuthenticationError(CatalogError):
    title = "Unauthorized"


class ForbiddenError(CatalogError):
    """Authenticated, but the caller's role does not allow this."""

    title = "Forbidden"


class RateLimitedError(CatalogError):
    """Too many requests (or crawls) for now; `retry_after` says when to try again."""

    title = "Too many requests"

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class CrawlCapacityError(RateLimitedError):
    """The tenant already has its most crawls queued or running."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"{limit} crawls are already queued or running for this tenant; retry when one ends",
            retry_after=30,
        )


class CredentialError(CatalogError):
    """A stored secret cannot be decrypted (unknown key, tampered or moved ciphertext)."""

    title = "Credential error"


class TransientError(CatalogError):
    """Worth retrying later: an engine is down or overloaded.

    `error_class` is what a crawl records if the retries run out (unreachable, timeout, ...).
    """

    title = "Service unavailable"

    def __init__(self, message: str, error_class: str = "unavailable") -> None:
        super().__init__(message)
        self.error_class = error_class


class PermanentError(CatalogError):
    """Retrying cannot help: a malformed message, a missing row."""

    title = "Permanent failure"


class CrawlFailure(CatalogError):
    """A target database could not be crawled; `error_class` says why, for the crawl status."""

    title = "Crawl failed"

    def __init__(self, error_class: str, message: str) -> None:
        super().__init__(message)
        self.error_class = error_class


class IndexLostError(TransientError):
    """The search index, or a database's live documents in it, went missing: readers get a 503
    while the catalog recreates the index and re-crawls, never an empty answer."""

    def __init__(self, message: str) -> None:
        super().__init__(message, error_class="index_lost")

    @classmethod
    def for_databases(cls, database_ids: list[str]) -> IndexLostError:
        return cls(
            f"the search index lost the documents of {', '.join(sorted(database_ids))}; a"
            " re-crawl is rebuilding them (see GET /v1/databases/{id}); retry later"
        )
