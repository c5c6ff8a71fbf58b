"""Typed application keys: the gateway's only way to reach its services."""

from aiohttp import web

from catalog.abbreviations import Abbreviations
from catalog.cipher import SecretCipher
from catalog.crawler import CrawlerFactory
from catalog.credentials import KeyProbe
from catalog.netguard import TargetPolicy
from catalog.principal import Principal
from catalog.search import SearchIndex
from catalog.settings import Settings
from catalog.store import Store
from gateway.answers import AnswerCache
from gateway.buckets import TokenBuckets
from gateway.known_tokens import KnownTokens
from gateway.oidc import OidcVerifier

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", Store)
INDEX = web.AppKey("index", SearchIndex)
CIPHER = web.AppKey("cipher", SecretCipher)
POLICY = web.AppKey("policy", TargetPolicy)
# Only for "test connection": the one time the gateway talks to a registered database.
CRAWLERS: web.AppKey[CrawlerFactory] = web.AppKey("crawlers")
OIDC: web.AppKey[OidcVerifier | None] = web.AppKey("oidc")
ANSWERS = web.AppKey("answers", AnswerCache)
TOKENS = web.AppKey("tokens", KnownTokens)
# Failed authentications per client address.
AUTH_FAILURES = web.AppKey("auth_failures", TokenBuckets)
KEY_PROBE = web.AppKey("key_probe", KeyProbe)
# The built-in abbreviations and the operator's (CATALOG_ABBREVIATIONS_FILE), read at start.
ABBREVIATIONS = web.AppKey("abbreviations", Abbreviations)
# Per request: who is calling, set by the auth middleware.
PRINCIPAL = web.RequestKey("principal", Principal)
