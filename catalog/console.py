"""The `catalog` command's API commands: register, databases, crawl (and follow it), search.

They talk to a running catalog over its HTTP API (catalog.api_client), with the token in
CATALOG_TOKEN, else CATALOG_ADMIN_TOKEN, else the admin token file that `catalog up` writes.
Exit codes say how it went, for scripts (EXIT_*).
"""

from __future__ import annotations

import asyncio
import getpass
import html
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table
from rich.text import Text

from catalog.api_client import ApiClient
from catalog.bootstrap import ADMIN_TOKEN_FILE
from catalog.errors import InvalidInputError
from catalog.explain import HIGHLIGHT_CLOSE, HIGHLIGHT_OPEN
from catalog.settings import Settings

EXIT_OK = 0
# The API refused the request or could not be reached; or no token, no terminal to prompt on, a
# bad setting. (2 is argparse's, for bad arguments.)
EXIT_API_ERROR = 1
EXIT_CRAWL_FAILED = 3
EXIT_CRAWL_HELD = 4  # complete, but held by the fail-safe until an editor confirms it

POLL_SECONDS = 0.5
_ENDED = ("complete", "failed", "held")
_HIGHLIGHT = re.compile(f"{re.escape(HIGHLIGHT_OPEN)}(.*?){re.escape(HIGHLIGHT_CLOSE)}")


class NoTokenError(InvalidInputError):
    """Nothing to authenticate with."""


@dataclass(frozen=True)
class Endpoint:
    """Where the catalog's API is, and the token to call it with."""

    base_url: str
    token: str

    @classmethod
    def of(cls, settings: Settings, url: str | None) -> Endpoint:
        host = "127.0.0.1" if settings.host in ("", "0.0.0.0", "::") else settings.host
        base = url or os.environ.get("CATALOG_URL") or f"http://{host}:{settings.port}"
        token = os.environ.get("CATALOG_TOKEN") or settings.admin_token
        token_file = settings.data_dir / ADMIN_TOKEN_FILE
        if not token and token_file.exists():
            token = token_file.read_text().strip()
        if not token:
            raise NoTokenError(
                f"no API token: set CATALOG_TOKEN, or run `catalog up`, which writes {token_file}"
            )
        return cls(base, token)

    def client(self) -> ApiClient:
        return ApiClient(self.base_url, self.token)


def read_password(user: str, host: str, from_stdin: bool) -> str:
    """The target's password: one line of stdin, or typed at a prompt that does not echo it."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise InvalidInputError("no terminal to prompt for the password: use --password-stdin")
    return getpass.getpass(f"password for {user} on {host}: ")


async def register(
    endpoint: Endpoint, registration: dict[str, Any], follow: bool, console: Console
) -> int:
    async with endpoint.client() as api:
        database = await api.register(registration)
        console.print(
            f"registered {database['name']!r} as {database['id']}", highlight=False, markup=False
        )
        crawl = database["crawl"]
        if not follow or crawl is None:
            console.print(f"follow its first crawl with: catalog crawl {database['id']} --follow")
            return EXIT_OK
        return await follow_crawl(api, database["id"], crawl["id"], console)


async def databases(endpoint: Endpoint, console: Console) -> int:
    table = Table("id", "name", "engine", "where", "last crawl", "tables", "finished")
    async with endpoint.client() as api:
        async for database in api.databases():
            crawl = database["crawl"] or {}
            where = f"{database['host']}:{database['port']}/{database['dbname']}"
            cells = (
                database["id"],
                database["name"],
                database["engine"],
                where,
                crawl.get("state", "never"),
                str(crawl.get("tables", "")),
                crawl.get("finished_at") or "",
            )
            table.add_row(*(Text(cell) for cell in cells))
    if table.row_count:
        console.print(table)
    else:
        console.print("no databases: register one with `catalog register`")
    return EXIT_OK


async def crawl(
    endpoint: Endpoint, database_id: str, full: bool, follow: bool, console: Console
) -> int:
    async with endpoint.client() as api:
        database = await api.request_crawl(database_id, full)
        crawl_id = database["crawl"]["id"]
        state = database["crawl"]["state"]
        console.print(f"crawl {crawl_id} of {database_id} is {state}", markup=False)
        if not follow:
            return EXIT_OK
        return await follow_crawl(api, database_id, crawl_id, console)


async def follow_crawl(api: ApiClient, database_id: str, crawl_id: str, console: Console) -> int:
    """Poll the database's status until the crawl ends, with a progress bar of its batches on a
    terminal (a line per batch elsewhere); then say how it ended."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("batches  {task.fields[pace]}"),
    )
    with Progress(*columns, console=console, disable=not console.is_terminal) as progress:
        task = progress.add_task("queued", total=None, pace="")
        last_line = ""
        while True:
            crawl = (await api.database(database_id))["crawl"]
            if crawl["id"] != crawl_id:
                # A later request was merged into another crawl, or came after it: follow that.
                console.print(f"crawl {crawl['id']} took over from {crawl_id}; following it")
                crawl_id = crawl["id"]
            _show(progress, task, crawl)
            line = _progress_line(crawl)
            if not console.is_terminal and line != last_line:
                console.print(line, highlight=False)
                last_line = line
            if crawl["state"] in _ENDED:
                break
            await asyncio.sleep(POLL_SECONDS)
    return _outcome(crawl, console)


def _show(progress: Progress, task: TaskID, crawl: dict[str, Any]) -> None:
    pace = ""
    if crawl["tables_per_second"] is not None:
        pace = f"{crawl['tables']} tables, {crawl['tables_per_second']:.0f} tables/s"
    if crawl["eta_seconds"] is not None:
        pace += f", about {crawl['eta_seconds']:.0f} s left"
    progress.update(
        task,
        description=crawl["state"],
        total=crawl["batches_total"],
        completed=crawl["batches_done"],
        pace=pace,
    )


def _progress_line(crawl: dict[str, Any]) -> str:
    total = "?" if crawl["batches_total"] is None else crawl["batches_total"]
    return f"{crawl['state']}: {crawl['batches_done']}/{total} batches, {crawl['tables']} tables"


def _outcome(crawl: dict[str, Any], console: Console) -> int:
    if crawl["state"] == "complete":
        console.print(
            f"complete: {crawl['tables']} tables and {crawl['columns']} columns in"
            f" {crawl['duration_seconds']:.1f} s ({crawl['mode']}, generation"
            f" {crawl['generation']})",
            highlight=False,
        )
        return EXIT_OK
    error = crawl["error"] or {}
    if crawl["state"] == "held":
        console.print(
            f"held by the fail-safe: {error.get('message')}; readers keep the previous crawl"
            f" until an editor confirms this one (POST .../crawls/{crawl['id']}/confirm)",
            highlight=False,
            markup=False,
        )
        return EXIT_CRAWL_HELD
    console.print(
        f"failed ({error.get('error_class')}): {error.get('message')}",
        highlight=False,
        markup=False,
    )
    return EXIT_CRAWL_FAILED


async def search(endpoint: Endpoint, params: dict[str, str | list[str]], console: Console) -> int:
    async with endpoint.client() as api:
        found = await api.search(params)
    if not found["hits"]:
        console.print(Text(f"nothing matches {found['query']!r}"))
        return EXIT_OK
    table = Table("", "name", "kind", "type", "database", "matched columns")
    for rank, hit in enumerate(found["hits"], start=1):
        table.add_row(*hit_row(rank, hit))
    console.print(table)
    return EXIT_OK


def hit_row(rank: int, hit: dict[str, Any]) -> list[Text]:
    """A hit's cells, all text: names and types come from the target, never read as markup."""
    return [
        Text(str(rank)),
        _hit_name(hit),
        Text(hit["kind"]),
        Text(hit["data_type"] or hit["table_type"]),
        Text(hit["database_id"]),
        Text(", ").join(_highlighted(c["highlight"]) for c in hit["matched_columns"]),
    ]


def _hit_name(hit: dict[str, Any]) -> Text:
    """schema.table[.column], the matched name's highlighted parts in bold."""
    name = Text(f"{hit['schema']}.")
    if hit["column"] is None:
        return name.append_text(_highlighted(hit["highlight"], hit["table"]))
    name.append(f"{hit['table']}.")
    return name.append_text(_highlighted(hit["highlight"], hit["column"]))


def _highlighted(highlight: str | None, plain: str = "") -> Text:
    """The API's highlight (HTML-escaped, matched parts in <em>) as styled text: names are the
    target's, so they are never read as markup."""
    if highlight is None:
        return Text(plain)
    text = Text()
    for part, matched in _pieces(highlight):
        text.append(html.unescape(part), style="bold yellow" if matched else "")
    return text


def _pieces(highlight: str) -> Iterator[tuple[str, bool]]:
    position = 0
    for match in _HIGHLIGHT.finditer(highlight):
        yield highlight[position : match.start()], False
        yield match.group(1), True
        position = match.end()
    yield highlight[position:], False
