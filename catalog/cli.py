"""The `catalog` command.

`catalog up` runs everything on one machine on embedded defaults: it starts the engines, then the
gateway and indexer processes (catalog/supervisor.py); `catalog keys generate|rotate` manages the
keys that encrypt stored passwords.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from catalog import services
from catalog.bootstrap import ADMIN_TOKEN_FILE, open_services, open_store, secret_keys
from catalog.cipher import SecretCipher, generate_key
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
        # The index's one writer belongs to the indexer child.
        await services.index.close()
        # The engines it started are its to watch: external ones have their own operators.
        engines: dict[str, Probe] = {}
        if settings.database_url is None:
            engines["PostgreSQL"] = services.store.ping
        if settings.nats_url is None and services.nats_url:
            engines["NATS"] = tcp_probe(services.nats_url)
        print(
            f"catalog up: http://{settings.host}:{settings.port} ({token_note}); Ctrl-C stops",
            flush=True,
        )
        await supervise(settings, env, stop, engines)
    print("catalog stopped", flush=True)


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
    args = parser.parse_args(argv)
    failed = False
    try:
        settings = Settings.from_env()
        configure_logging(settings.log_level)
        if args.command == "up":
            asyncio.run(up(settings))
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


def _leaves(group: BaseExceptionGroup) -> list[BaseException]:
    return [
        leaf
        for exc in group.exceptions
        for leaf in (_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    ]


if __name__ == "__main__":
    sys.exit(main())
