"""How every crawler turns a driver's or the network's error into a crawl's error class and a
message, never with a secret in it."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator

from catalog.errors import CrawlFailure, TransientError
from catalog.models import Target
from catalog.redact import scrub

# What a tenant reads when the target's server was not reached, however that failed.
UNREACHABLE = "could not connect to the database server"
# A blip of these may pass: the crawl retries (nak with backoff) before it fails.
RETRYABLE = frozenset({"unreachable", "timeout"})


@contextlib.contextmanager
def translated(
    target: Target,
    error_class: Callable[[BaseException], str | None],
    describe: Callable[[BaseException], str],
    *,
    connecting: bool,
    logger: logging.Logger,
) -> Iterator[None]:
    """Raises TransientError or CrawlFailure for what `error_class` recognises (None: not a
    driver or network error, raised as it is)."""
    try:
        yield
    except Exception as exc:
        found = error_class(exc)
        if found is None:
            raise
        message = scrub(describe(exc))
        if connecting and found in RETRYABLE:
            # Refused, closed or silent tells a port scanner which ports listen: the tenant
            # learns only that the server was not reached; operators read the rest here.
            logger.warning("could not connect to %s:%s: %s", target.host, target.port, message)
            found, message = "unreachable", UNREACHABLE
        if found in RETRYABLE:
            raise TransientError(message, found) from exc
        raise CrawlFailure(found, message) from exc
