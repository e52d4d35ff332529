"""The Slack app under test, end to end: a fake Slack Web API, two fake Harvester clusters
(FakeKubeAPI) in a clusters file, a migrated store, and the real app built by build_app.

``Bot`` sends signed requests the way Slack does (``app.dispatch`` of a BoltRequest, as
bolt-python's own tests do) and reads the answers: the ack (the HTTP response) and what the
worker posted to the request's response_url on the fake. The clock is fixed at
tests.sources.NOW, so certificates generated relative to it expire on known days.

Cluster "prod" holds the secrets the tests look for everywhere (``CANARIES``): a proxy
password, a registry password and a TLS private key.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml
from slack_bolt import App, BoltResponse
from sqlalchemy import Engine

from bot.config import Settings, load_settings
from bot.core.policy import CheckPolicy
from bot.kube.client import KubeClient
from bot.slack.app import build_app
from bot.slack.services import SlackServices, build_services, fleet_scanner
from bot.slack.worker import Worker
from bot.sources.tlsprobe import ProbeOptions
from tests.fakes.kube_api import FakeKubeAPI
from tests.fakes.slack_api import Call, FakeSlackAPI
from tests.fakes.slack_requests import signed_request, slash_command
from tests.sources import NOW, key_pem, pem
from tests.sources.test_live import (
    CA,
    FAST,
    issue,
    node,
    setting,
    ssl_certificates_custom,
    tls_secret,
)
from tests.store.conftest import BACKENDS, migrated_engine

SECRET = "test-signing-secret"
OPERATOR, GROUP, GROUP_MEMBER, OUTSIDER = "UOPS1", "SOPS1", "UGRP1", "U1"
PROXY_PASSWORD = "CANARY-proxy-pass-7731"
REGISTRY_PASSWORD = "CANARY-registry-pass-4410"
CANARIES = (PROXY_PASSWORD, REGISTRY_PASSWORD, "PRIVATE KEY")
PROXY = {
    "httpProxy": f"http://proxyuser:{PROXY_PASSWORD}@proxy.example:3128",
    "httpsProxy": f"http://proxyuser:{PROXY_PASSWORD}@proxy.example:3128",
    "noProxy": "localhost,127.0.0.1,10.0.0.10",
}
REGISTRY = {
    "Mirrors": {"docker.io": {"Endpoints": ["https://mirror.example"]}},
    "Configs": {"reg.example:5000": {"Auth": {"Username": "bot", "Password": REGISTRY_PASSWORD}}},
}
WEB, WEB_KEY = issue("web.prod.example", 5)  # critical: expires in 5 days
API, API_KEY = issue("api.prod.example", 20)  # warning: 20 days
UI, UI_KEY = issue("ui.prod.example", 200)
LAB, LAB_KEY = issue("lab.example", 300)


def prod_objects() -> list[dict[str, Any]]:
    return [
        setting("server-version", None, "v1.5.1"),
        setting("http-proxy", json.dumps(PROXY), "{}"),
        setting("containerd-registry", json.dumps(REGISTRY), ""),
        ssl_certificates_custom(pem(UI, CA), key_pem(UI_KEY)),
        node("node-0", "10.0.0.10"),
        tls_secret("default", "web", pem(WEB, CA), key_pem(WEB_KEY)),
        tls_secret("cattle-system", "api", pem(API, CA), key_pem(API_KEY)),
    ]


def lab_objects() -> list[dict[str, Any]]:
    return [
        setting("server-version", None, "v1.5.1"),
        node("lab-0", "10.1.0.10"),
        tls_secret("default", "lab", pem(LAB, CA), key_pem(LAB_KEY)),
    ]


@dataclass
class Fleet:
    prod: FakeKubeAPI
    lab: FakeKubeAPI
    clusters_file: Path


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    with ExitStack() as stack:
        prod = stack.enter_context(FakeKubeAPI(objects=prod_objects()))
        lab = stack.enter_context(FakeKubeAPI(objects=lab_objects()))
        folder = tmp_path / "kube"
        folder.mkdir()
        entries = [
            {
                "name": "prod",
                "kubeconfig": str(prod.write_kubeconfig(folder / "prod")),
                "labels": {"env": "prod"},
                "slack": {"channel": "#ops-prod"},
            },
            {"name": "lab", "kubeconfig": str(lab.write_kubeconfig(folder / "lab"))},
        ]
        path = tmp_path / "clusters.yaml"
        path.write_text(yaml.safe_dump({"clusters": entries}))
        yield Fleet(prod=prod, lab=lab, clusters_file=path)


@pytest.fixture
def slack() -> Iterator[FakeSlackAPI]:
    with FakeSlackAPI() as api:
        api.groups[GROUP] = [GROUP_MEMBER, "UOTHER1"]
        yield api


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """SQLite; tests that change the store use ``any_engine`` (SQLite and PostgreSQL)."""
    with migrated_engine("sqlite", tmp_path) as eng:
        yield eng


@pytest.fixture(params=BACKENDS)
def any_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with migrated_engine(request.param, tmp_path) as eng:
        yield eng


def settings_for(slack: FakeSlackAPI, fleet: Fleet, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "SLACK_BOT_TOKEN": slack.token,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": slack.url,
        "operators": f"{OPERATOR},{GROUP}",
        "clusters_file": fleet.clusters_file,
        "timezone": "Europe/Berlin",
        "worker_threads": 2,
    }
    return load_settings(**(values | overrides))


def services_for(settings: Settings, engine: Engine, **overrides: Any) -> SlackServices:
    connect = partial(KubeClient.connect, timeouts=FAST)
    runner = fleet_scanner(
        policy=CheckPolicy(),
        connect=connect,
        probe=ProbeOptions(enabled=False),
        concurrency=2,
        engine=engine,
        clock=lambda: NOW,
    )
    services = build_services(
        settings,
        engine=engine,
        clock=lambda: NOW,
        scan_runner=runner,
        connect=connect,
        worker=overrides.pop("worker", None) or Worker(threads=2),
    )
    return replace(services, **overrides)


class Bot:
    """The app plus helpers to talk to it like Slack does."""

    def __init__(self, app: App, slack: FakeSlackAPI, services: SlackServices) -> None:
        self.app = app
        self.slack = slack
        self.services = services
        self._keys = itertools.count(1)
        self.last_key = ""

    def command(self, text: str, *, user: str = OUTSIDER) -> BoltResponse:
        """Dispatch ``/harvester text``; each command gets its own response_url."""
        self.last_key = f"r{next(self._keys)}"
        body = slash_command(text, user=user, response_url=self.slack.response_url(self.last_key))
        return self.app.dispatch(signed_request(body, secret=SECRET))

    def ack(self, text: str, *, user: str = OUTSIDER) -> dict[str, Any]:
        """The ack body of ``/harvester text`` (must be an HTTP 200 with a JSON message)."""
        response = self.command(text, user=user)
        assert response.status == 200, response.body
        answer: dict[str, Any] = json.loads(response.body)
        return answer

    def posted(self, key: str | None = None, count: int = 1) -> list[Call]:
        """The accepted response_url posts of one command (default: the last), once there
        are ``count`` of them (AssertionError after 10 s)."""
        path = f"/response/{key or self.last_key}"
        end = time.monotonic() + 10
        while time.monotonic() < end:
            found = [c for c in self.slack.calls_to("response") if c.path == path]
            if len(found) >= count:
                return found
            time.sleep(0.01)
        raise AssertionError(f"{count} response(s) to {path} not seen: {self.slack.calls}")

    def reply(self, text: str, *, user: str = OUTSIDER) -> dict[str, Any]:
        """A command answered on the worker: an empty ack, then a response_url post."""
        response = self.command(text, user=user)
        assert (response.status, response.body) == (200, ""), response.body
        return self.posted()[0].params


def text_of(message: dict[str, Any]) -> str:
    """Every text in a message or view (fallback and blocks), joined by newlines."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "text" and isinstance(item, str):
                    found.append(item)
                else:
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(message)
    return "\n".join(found)


@pytest.fixture
def bot(slack: FakeSlackAPI, fleet: Fleet, engine: Engine) -> Iterator[Bot]:
    yield from make_bot(slack, fleet, engine)


def make_bot(slack: FakeSlackAPI, fleet: Fleet, engine: Engine, **overrides: Any) -> Iterator[Bot]:
    settings = settings_for(slack, fleet)
    services = services_for(settings, engine, **overrides)
    app = build_app(settings=settings, services=services, process_before_response=True)
    slack.clear()  # the auth.test of App()
    try:
        yield Bot(app, slack, services)
    finally:
        services.worker.shutdown(wait=True)
