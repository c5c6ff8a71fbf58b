"""docker-compose.yml and the Dockerfile cannot run here (no Docker engine): keep them true."""

from __future__ import annotations

import dataclasses
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import yaml

from catalog.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
MAVEN = {"m": "http://maven.apache.org/POM/4.0.0"}


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_every_part_of_the_deployment():
    services = compose()["services"]
    assert set(services) == {
        "postgres",
        "nats",
        "opensearch",
        "dashboards",
        "dashboards-setup",
        "gateway",
        "indexer",
    }
    assert services["gateway"]["command"] == ["python", "-m", "gateway"]
    # The saved objects go in once Dashboards answers; the import overwrites, so reruns are safe.
    setup = services["dashboards-setup"]
    assert setup["command"] == [
        "catalog",
        "dashboards",
        "install",
        "--url",
        "http://dashboards:5601",
    ]
    assert setup["depends_on"] == {"dashboards": {"condition": "service_healthy"}}
    assert "healthcheck" in services["dashboards"]
    assert services["indexer"]["command"] == ["python", "-m", "indexer"]
    assert "-js" in services["nats"]["command"]


def test_compose_sets_only_settings_that_exist_and_every_external_engine():
    fields = {f"CATALOG_{f.name.upper()}" for f in dataclasses.fields(Settings)}
    for name in ("gateway", "indexer"):
        env = compose()["services"][name]["environment"]
        assert set(env) <= fields, set(env) - fields
        for url in ("CATALOG_DATABASE_URL", "CATALOG_NATS_URL", "CATALOG_OPENSEARCH_URL"):
            assert env[url], f"{name} would fall back to an embedded engine for {url}"


def test_compose_holds_no_literal_secret():
    env = compose()["services"]["gateway"]["environment"]
    assert env["CATALOG_SECRET_KEYS"].startswith("${CATALOG_SECRET_KEYS:?")
    assert env["CATALOG_ADMIN_TOKEN"].startswith("${CATALOG_ADMIN_TOKEN:?")
    assert ":${CATALOG_NATS_PASSWORD:?" in env["CATALOG_NATS_URL"]


def test_compose_publishes_only_the_gateway_to_the_network():
    """NATS without its password, or Dashboards without a login, is every tenant's data."""
    services = compose()["services"]
    published = {
        name: [str(p) for p in service.get("ports", [])] for name, service in services.items()
    }
    assert published.pop("gateway") == ["8000:8000"]
    assert published.pop("dashboards") == ["127.0.0.1:5601:5601"]
    assert all(ports == [] for ports in published.values()), published
    nats = services["nats"]["command"]
    assert nats[nats.index("--pass") + 1].startswith("${CATALOG_NATS_PASSWORD:?")


def test_dockerfile_copies_every_package_the_services_import():
    dockerfile = (ROOT / "Dockerfile").read_text()
    copied = set(re.findall(r"^COPY (\w+) ", dockerfile, flags=re.MULTILINE))
    assert {"catalog", "gateway", "indexer"} <= copied


def test_compose_runs_the_opensearch_version_the_tests_run():
    pom = ET.parse(ROOT / "tests" / "engines" / "opensearch" / "pom.xml").getroot()
    tested = pom.findtext("m:properties/m:opensearch.version", namespaces=MAVEN)
    services = compose()["services"]
    assert tested
    assert services["opensearch"]["image"] == f"opensearchproject/opensearch:{tested}"
    dashboards = services["dashboards"]["image"]
    assert dashboards == f"opensearchproject/opensearch-dashboards:{tested}"
