"""The `catalog` command.

`catalog up` runs everything on one machine on embedded defaults: it starts the engines, then the
gateway and indexer processes (catalog/supervisor.py); `catalog keys generate|rotate` manages the
keys that encrypt stored passwords. `catalog register|databases|crawl|search` use a running
catalog's HTTP API (catalog/console.py).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from rich.console import Console

from catalog import console, metrics, services
from catalog.api_client import ApiError
from catalog.bootstrap import ADMIN_TOKEN_FILE, open_services, open_store, secret_keys
from catalog.cipher import SecretCipher, generate_key
from catalog.dashboards import install as install_dashboards
from catalog.engine_watch import Probe, tcp_probe
from catalog.errors import CatalogError
from catalog.logs import configure_logging
from catalog.settings import Settings
from catalog.signals import stop_on_signals
from catalog.supervisor import supervise

log = logging.getLogger("catalog")


async def up(settings: Settings) -> None:
    stop = stop_on_signals()
    # The engines (embedded where unset), the admin token and the index are made ready here,
    # once; the children join them through the URLs passed in their environment.
    async with open_services(settings, with_events=True, stop=stop) as services:
        token_note = (
            "the admin token is CATALOG_ADMIN_TOKEN"
            if settings.admin_token
            else f"the admin token is in {settings.data_dir / ADMIN_TOKEN_FILE}"
        )
        env = {**os.environ, "CATALOG_DATABASE_URL": services.database_url}
        # One machine's catalog: its own databases are on this host (unless told otherwise).
        env.setdefault("CATALOG_TARGET_THIS_HOST", "1")
        if services.nats_url:
            env["CATALOG_NATS_URL"] = services.nats_url
        metrics_note = _serve_children_metrics(settings, env)
        # The index's one writer belongs to the indexer child.
        await services.index.close()
        # The engines it started are its to watch: external ones have their own operators.
        engines: dict[str, Probe] = {}
        if settings.database_url is None:
            engines["PostgreSQL"] = services.store.ping
        if settings.nats_url is None and services.nats_url:
            engines["NATS"] = tcp_probe(services.nats_url)
        base = f"http://{settings.host}:{settings.port}"
        print(
            f"catalog up: {base} ({token_note}{metrics_note}); web UI at {base}/ui/; Ctrl-C stops",
            flush=True,
        )
        await supervise(settings, env, stop, engines)
    print("catalog stopped", flush=True)


def _serve_children_metrics(settings: Settings, env: dict[str, str]) -> str:
    """Have the children write their metrics to one folder and serve their sum from here; the
    note for the banner (empty when metrics are off, or their port is taken)."""
    port = settings.metrics_port
    if port is None:
        port = metrics.CATALOG_UP_METRICS_PORT
    if not port:
        return ""
    folder = metrics.prepare_multiprocess_dir(settings.data_dir)
    env[metrics.MULTIPROCESS_DIR] = str(folder)
    if not metrics.serve(settings.metrics_host, port, folder):
        return ""
    return f"; metrics on http://{settings.metrics_host}:{port}/metrics"


async def rotate_keys(settings: Settings) -> None:
    async with open_store(settings) as store:
        cipher = SecretCipher.from_keys(await secret_keys(settings, store))
        done = await services.rotate_keys(store, cipher)
    print(
        f"re-encrypted {done.resealed} passwords under key {done.key_id};"
        f" {done.already_current} already were",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="catalog", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "up", help="run the gateway, outbox relay and indexer workers on embedded defaults"
    )
    keys = commands.add_parser("keys", help="manage the keys that encrypt stored passwords")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    key_commands.add_parser("generate", help="print a new key for CATALOG_SECRET_KEYS")
    key_commands.add_parser(
        "rotate", help="re-encrypt every stored password under the first key (safe while running)"
    )
    dashboards = commands.add_parser("dashboards", help="OpenSearch Dashboards for the catalog")
    dashboard_commands = dashboards.add_subparsers(dest="dashboards_command", required=True)
    install = dashboard_commands.add_parser(
        "install", help="import the catalog's index patterns, visualizations and dashboard"
    )
    install.add_argument(
        "--url", required=True, help="OpenSearch Dashboards, e.g. http://dashboards:5601"
    )
    install.add_argument("--index", help="the catalog's index (CATALOG_OPENSEARCH_INDEX)")
    _add_api_commands(commands)
    args = parser.parse_args(argv)
    failed = False
    try:
        settings = Settings.from_env()
        if args.command in _API_COMMANDS:
            try:
                return asyncio.run(_api_command(args, settings))
            except KeyboardInterrupt:  # Ctrl-C while following a crawl: it goes on without us
                return 130
        configure_logging(settings.log_level)
        if args.command == "up":
            asyncio.run(up(settings))
        elif args.command == "dashboards":
            index = args.index or settings.opensearch_index
            imported = asyncio.run(install_dashboards(args.url, index))
            print(
                f"imported {imported.count} saved objects into {args.url}: open the dashboard"
                f" {imported.dashboard!r} (index {index!r} and {index}-crawls)",
                flush=True,
            )
        elif args.keys_command == "generate":
            print(generate_key())
        else:
            asyncio.run(rotate_keys(settings))
    except* CatalogError as group:
        # Errors we raise on purpose get one clear line; anything else keeps its traceback.
        for exc in _leaves(group):
            print(f"catalog: {exc}", file=sys.stderr)
        failed = True
    return 1 if failed else 0


_API_COMMANDS = ("register", "databases", "crawl", "search")


def _add_api_commands(commands: argparse._SubParsersAction) -> None:
    url = argparse.ArgumentParser(add_help=False)
    url.add_argument(
        "--url", help="the catalog's API (CATALOG_URL; default http://CATALOG_HOST:CATALOG_PORT)"
    )
    register = commands.add_parser(
        "register",
        parents=[url],
        help="register a database (the password is prompted for, or read from stdin)",
    )
    register.add_argument("name", help="what to call it in the catalog")
    register.add_argument("--engine", choices=["postgresql", "mysql"], default="postgresql")
    register.add_argument("--host", required=True)
    register.add_argument("--port", type=int, help="5432 for postgresql, 3306 for mysql")
    register.add_argument(
        "--dbname", default="", help="the database (for mysql: the schema; empty: every one)"
    )
    register.add_argument("--user", required=True)
    register.add_argument("--sslmode", help="TLS as the engine's own client names it")
    register.add_argument(
        "--password-stdin", action="store_true", help="read the password from one line of stdin"
    )
    register.add_argument("--follow", action="store_true", help="follow its first crawl")
    commands.add_parser("databases", parents=[url], help="list the registered databases")
    crawl = commands.add_parser("crawl", parents=[url], help="crawl a database again")
    crawl.add_argument("database_id")
    crawl.add_argument("--full", action="store_true", help="read every relation again")
    crawl.add_argument(
        "--follow",
        action="store_true",
        help="show its progress until it ends (exit code 0, 3 or 4)",
    )
    search = commands.add_parser("search", parents=[url], help="search tables and columns")
    search.add_argument("query")
    search.add_argument("--kind", choices=["table", "column", "any"], default="any")
    search.add_argument("--database", action="append", default=[], help="only this database id")
    search.add_argument("--limit", type=int, default=10)


async def _api_command(args: argparse.Namespace, settings: Settings) -> int:
    out, err = Console(), Console(stderr=True)
    endpoint = console.Endpoint.of(settings, args.url)
    try:
        if args.command == "register":
            registration = {
                key: value
                for key, value in {
                    "name": args.name,
                    "engine": args.engine,
                    "host": args.host,
                    "port": args.port,
                    "dbname": args.dbname,
                    "user": args.user,
                    "sslmode": args.sslmode,
                }.items()
                if value is not None
            }
            password = console.read_password(args.user, args.host, args.password_stdin)
            registration["password"] = password
            return await console.register(endpoint, registration, args.follow, out)
        if args.command == "databases":
            return await console.databases(endpoint, out)
        if args.command == "crawl":
            return await console.crawl(endpoint, args.database_id, args.full, args.follow, out)
        params = {"q": args.query, "kind": args.kind, "limit": str(args.limit)}
        return await console.search(endpoint, {**params, "database_id": args.database}, out)
    except ApiError as exc:
        err.print(f"catalog: {exc}", markup=False, highlight=False)
        return console.EXIT_API_ERROR


def _leaves(group: BaseExceptionGroup) -> list[BaseException]:
    return [
        leaf
        for exc in group.exceptions
        for leaf in (_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    ]


if __name__ == "__main__":
    sys.exit(main())
