"""The catalog's HTTP API as the `catalog` command uses it: JSON in, JSON out, and every error
answer (RFC 9457 problem details) raised as one ApiError that says what the server said."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any
from urllib.parse import quote

import aiohttp

# A crawl's status is polled, a search answers at once: neither should wait long on a hung server.
_TIMEOUT = aiohttp.ClientTimeout(total=30)


class ApiError(Exception):
    """The API answered with an error, or could not be reached."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ApiClient:
    def __init__(self, base_url: str, token: str) -> None:
        self._base = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"}
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> ApiClient:
        self._session = aiohttp.ClientSession(headers=self._headers, timeout=_TIMEOUT)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()

    async def register(self, registration: dict[str, Any]) -> dict[str, Any]:
        return await self._call("POST", "/v1/databases", json=registration)

    async def databases(self) -> AsyncIterator[dict[str, Any]]:
        """Every database the token may see, page after page."""
        cursor: str | None = None
        while True:
            params = {"limit": "100", **({"cursor": cursor} if cursor else {})}
            page = await self._call("GET", "/v1/databases", params=params)
            for item in page["items"]:
                yield item
            cursor = page["next_cursor"]
            if cursor is None:
                return

    async def database(self, database_id: str) -> dict[str, Any]:
        return await self._call("GET", f"/v1/databases/{quote(database_id, safe='')}")

    async def request_crawl(self, database_id: str, full: bool) -> dict[str, Any]:
        path = f"/v1/databases/{quote(database_id, safe='')}/crawls"
        return await self._call("POST", path, json={"full": full})

    async def search(self, params: dict[str, str | list[str]]) -> dict[str, Any]:
        return await self._call("GET", "/v1/search", params=params)

    async def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        if self._session is None:
            raise RuntimeError("ApiClient used outside `async with`")
        try:
            async with self._session.request(method, self._base + path, **kwargs) as response:
                if response.status >= 400:
                    raise ApiError(await _problem(response), response.status)
                body: dict[str, Any] = await response.json()
                return body
        except ValueError:  # a 2xx answer that is not JSON: not the catalog's API
            raise ApiError(f"{self._base} did not answer as the catalog's API does") from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            reason = str(exc) or "timed out"  # a TimeoutError says nothing of itself
            raise ApiError(f"cannot reach the catalog at {self._base}: {reason}") from None


async def _problem(response: aiohttp.ClientResponse) -> str:
    """The problem details' title and detail, or the status line when there are none."""
    try:
        problem = await response.json(content_type=None)
    except ValueError:
        problem = None
    if not isinstance(problem, dict):
        return f"{response.status} {response.reason}"
    title = problem.get("title") or response.reason
    detail = problem.get("detail")
    return f"{response.status} {title}: {detail}" if detail else f"{response.status} {title}"
