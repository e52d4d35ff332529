"""Which channel hears about which cluster.

Critical and warning alerts of a cluster go to its own channel when the clusters file
gives one (``slack: {channel: …}``), else to ``SECBOT_ALERT_CHANNEL``. The digest goes to
every channel that has clusters: ``SECBOT_DIGEST_CHANNEL`` (default: the alert channel)
covers the clusters without their own channel, so each channel gets one digest a day
about its clusters. No channel configured means no alerts: findings are still stored and
shown by the commands.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


@dataclass(frozen=True)
class Routing:
    alert_channel: str | None = None
    digest_channel: str | None = None  # None: the alert channel
    per_cluster: Mapping[str, str] = field(default_factory=dict)  # cluster -> channel

    def __post_init__(self) -> None:
        object.__setattr__(self, "per_cluster", MappingProxyType(dict(self.per_cluster)))

    def alert_channel_for(self, cluster: str) -> str | None:
        return self.per_cluster.get(cluster) or self.alert_channel

    def digest_channel_for(self, cluster: str) -> str | None:
        return self.per_cluster.get(cluster) or self.digest_channel or self.alert_channel

    def digest_channels(self, clusters: Iterable[str]) -> dict[str, list[str]]:
        """channel -> its clusters (sorted), for these clusters."""
        out: dict[str, list[str]] = {}
        default = self.digest_channel or self.alert_channel
        if default is not None:
            out[default] = []
        for name in sorted(set(clusters)):
            channel = self.digest_channel_for(name)
            if channel is not None:
                out.setdefault(channel, []).append(name)
        # The default channel is listed even when empty only if it is the only one.
        return {c: n for c, n in out.items() if n} or out
