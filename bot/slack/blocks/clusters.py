"""``clusters``: the clusters secbot watches, how it reaches them, and where it posts.

Takes ``ClusterLine`` rather than ``bot.kube``'s KubeTarget so the builder needs no kube
import; the listener fills ``connection`` with ``bot.fleet.describe(target)``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from bot.slack.blocks.common import (
    DEFAULT_COMMAND,
    Message,
    code,
    context,
    escape,
    fit,
    header,
    message,
    more_line,
    one_line,
    plural,
    section,
)

# A Slack conversation id (public C…, private G…): rendered as a channel link. Anything
# else in the clusters file is shown as text, never as a link.
_CHANNEL_ID = re.compile(r"[CG][A-Z0-9]{2,}")


@dataclass(frozen=True, slots=True)
class ClusterLine:
    """One configured cluster as ``clusters`` shows it."""

    name: str
    connection: str  # e.g. "kubeconfig context prod-1", "in-cluster service account"
    labels: Mapping[str, str] = field(default_factory=dict)
    channel: str | None = None  # a channel id (C…) or a name; None: the default channel


def channel_ref(channel: str) -> str:
    """``<#C123>`` for a channel id, escaped ``#name`` text for anything else."""
    if _CHANNEL_ID.fullmatch(channel):
        return f"<#{channel}>"
    return escape("#" + channel.lstrip("#"))


def _line(cluster: ClusterLine) -> str:
    labels = " ".join(code(f"{k}={v}") for k, v in sorted(cluster.labels.items()))
    where = channel_ref(cluster.channel) if cluster.channel else "the default channel"
    parts = [f"*{escape(cluster.name)}*", escape(one_line(cluster.connection, 300))]
    if labels:
        parts.append(labels)
    return " · ".join(parts) + f"\nposts to {where}"


def clusters_message(clusters: Sequence[ClusterLine], *, command: str = DEFAULT_COMMAND) -> Message:
    """One section per cluster, sorted by name."""
    if not clusters:
        return message(
            "No clusters configured.",
            [
                section(
                    "No clusters configured. List them in the clusters file "
                    "(`SECBOT_CLUSTERS_FILE`) and restart me."
                )
            ],
        )
    ordered = sorted(clusters, key=lambda c: c.name)
    head = [header("Clusters"), context(f"{plural(len(ordered), 'cluster')} configured")]
    items = [section(_line(c)) for c in ordered]
    blocks = fit(head, items, more=lambda n: more_line(n, f"{command} status CLUSTER") + " for one")
    return message(
        f"{plural(len(ordered), 'cluster')}: " + ", ".join(c.name for c in ordered), blocks
    )
