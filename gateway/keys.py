"""Typed application keys: the gateway's only way to reach its services."""

from aiohttp import web

from catalog.cipher import SecretCipher
from catalog.netguard import TargetPolicy
from catalog.search import SearchIndex
from catalog.settings import Settings
from catalog.store import Store

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", Store)
INDEX = web.AppKey("index", SearchIndex)
CIPHER = web.AppKey("cipher", SecretCipher)
POLICY = web.AppKey("policy", TargetPolicy)
