"""The agent's rounds: read the folder, publish the inventory, wait, again.

``one_round`` reads the PKI folder (that never fails: unreadable files are ``problems``),
connects (a fresh client each round, so a rotated service-account token or a moved API
server is picked up) and publishes. ``run_loop`` repeats it every ``interval``; a failed
round is logged as one line (no secret: KubeError texts are scrubbed, other errors are
scrubbed too) and retried sooner, after 1 minute, doubling up to the interval. Nothing a
round raises stops the loop; only ``wait`` returning True (SIGTERM, see bot.cli_agent)
does. Time comes from the injected ``clock`` and ``wait``, so tests never sleep.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from bot.agent.publish import DocumentTooLarge, Published, publish
from bot.errors import BotError
from bot.kube.errors import scrub
from bot.sources.pki_inventory import build_inventory, configmap_name

if TYPE_CHECKING:
    from bot.kube.client import KubeClient

log = logging.getLogger(__name__)

RETRY_FIRST = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class AgentConfig:
    """What one agent publishes, and where."""

    root: Path  # the PKI folder as the container sees it (a read-only hostPath)
    node: str
    namespace: str
    interval: timedelta

    @property
    def target(self) -> str:
        return f"ConfigMap {self.namespace}/{configmap_name(self.node)}"


def one_round(
    config: AgentConfig, *, connect: Callable[[], KubeClient], clock: Callable[[], datetime]
) -> Published:
    """Read the folder and publish it once; KubeError / DocumentTooLarge on failure."""
    document = build_inventory(
        config.root,
        node=config.node,
        now=clock(),
        interval_seconds=int(config.interval.total_seconds()),
    )
    with connect() as client:
        return publish(client, namespace=config.namespace, document=document)


def describe(error: BaseException) -> str:
    """One line, no secret, for a failed round."""
    if isinstance(error, BotError):
        return scrub(str(error))  # KubeError texts are scrubbed already; ours are plain
    return f"{type(error).__name__}: {scrub(str(error))}"


def run_loop(
    round_: Callable[[], Published],
    *,
    config: AgentConfig,
    wait: Callable[[float], bool],
    retry: timedelta = RETRY_FIRST,
) -> None:
    """Publish every ``config.interval`` until ``wait(seconds)`` returns True (stop)."""
    interval = config.interval.total_seconds()
    backoff = min(retry.total_seconds(), interval)
    while True:
        try:
            published = round_()
        except Exception as e:  # boundary: no round may end the agent
            # Retrying soon cannot shrink the folder; the next round can.
            delay = interval if isinstance(e, DocumentTooLarge) else backoff
            backoff = min(backoff * 2, interval)
            log.warning(
                "publishing %s failed: %s; next try in %ds", config.target, describe(e), delay
            )
        else:
            delay, backoff = interval, min(retry.total_seconds(), interval)
            log.info("%s; next in %ds", published, delay)
        if wait(delay):
            return
