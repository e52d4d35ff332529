"""Source: a Harvester support bundle, the .zip Harvester produces or its unpacked folder.

Layout (reference/harvester.md §4): ``supportbundle_<uid>_<time>/`` (optional) holding
``metadata.yaml``, ``yamls/{cluster,namespaced/<ns>}/<group>/<version>/<resource>.yaml``
(``kind: List``) and ``nodes/<node>.zip`` (configs, journals). Archives are read in memory
through ``bot.sources.archive``: validated first, bounded while read, never extracted.

What a bundle cannot tell is coverage, never a guess: the settings support-bundle-kit leaves
out and Secrets are EXCLUDED (unless this bundle holds them); a malformed file is an ERROR
naming it and marks its subject ERROR, so checks answer UNKNOWN. An unsafe or corrupt
bundle raises InputError; a bad node archive is only a gap in ``node-files``. Each node
with files has ``node-files:<node>``; a listed node without it is unread (findings.lifecycle).
"""

from __future__ import annotations

import re
from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.core.snapshot import CoverageStatus, NodeFile, Snapshot
from bot.errors import InputError
from bot.sources import objects
from bot.sources.archive import ArchiveError, Budget, MemberError, Tree, open_tree, open_zip
from bot.sources.builder import SnapshotBuilder
from bot.sources.limits import DEFAULT_LIMITS, Limits, MiB
from bot.sources.yamlsafe import DocumentError, denull, load_documents

HARVESTER_SETTINGS = "yamls/cluster/harvesterhci.io/v1beta1/settings.yaml"
RANCHER_SETTINGS = "yamls/cluster/management.cattle.io/v3/settings.yaml"
NODES = "yamls/cluster/v1/nodes.yaml"
WEBHOOKS = (
    "yamls/cluster/admissionregistration.k8s.io/v1/validatingwebhookconfigurations.yaml",
    "yamls/cluster/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations.yaml",
    "yamls/cluster/apiregistration.k8s.io/v1/apiservices.yaml",
)
# support-bundle-kit collector "harvester": ignoreHarvesterSettingsList (reference §4).
_EXCLUDED = "ssl-certificates additional-ca containerd-registry cluster-registration-url"
EXCLUDED_SETTINGS = tuple(_EXCLUDED.split())
EXCLUDED_DETAIL = "support bundles leave this setting out (reference §4)"
SECRETS_DETAIL = "support bundles do not collect Secrets (reference §4)"
MISSING = {  # subjects a bundle did not have at all
    "settings": f"bundle has no {HARVESTER_SETTINGS} (support-bundle-kit before v0.0.26 "
    "leaves Harvester settings out)",
    "nodes": f"bundle has no {NODES}",
    "events": "bundle has no events",
    "webhooks": "bundle has no webhook configurations or APIServices",
    "rancher-settings": f"bundle has no {RANCHER_SETTINGS}",
}
_EVENTS = re.compile(r"^yamls/namespaced/([^/]+)/(v1|events\.k8s\.io/v1)/events\.yaml$")
_SECRETS = re.compile(r"^yamls/namespaced/[^/]+/v1/secrets\.yaml$")
_MARKERS = re.compile(r"^(?:yamls/|nodes/|metadata\.yaml$)")
_BUNDLE_NAME = re.compile(
    r"^supportbundle_(?P<id>.+?)_\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ(?:\s*\(\d+\))?$"
)
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-")
_NODE = re.compile(r"^nodes/([^/]+?)(\.zip|/.+)$")
_LOG = re.compile(r"(?:^|/)logs/(rke2-server|rke2-agent|rancherd|rancher-system-agent)\.log$")
_OEM = re.compile(r"(?:^|/)configs/oem/([^/].*\.(?:yaml|yml|txt))$", re.IGNORECASE)
MAX_CONFIG_BYTES = 1 * MiB
_READ_ERRORS = (DocumentError, ValueError, TypeError, AttributeError)


def bundle_cluster_name(path: Path, *, top_folder: str = "", namespace_uid: str = "") -> str:
    """Name a cluster after its bundle: ``harvester-<first 8 chars of the namespace UID>``.

    The UID in ``supportbundle_<uid>_<time>`` is that of the namespace the bundle manager
    ran in, so every bundle of one cluster gets the same name. A custom bundle name is used
    as is; without any, the file or folder stem.
    """
    stem = path.name[:-4] if path.name.lower().endswith(".zip") else path.name
    for candidate in (stem, top_folder):
        m = _BUNDLE_NAME.match(candidate)
        if m:
            ident = m.group("id")
            return f"harvester-{ident[:8].lower()}" if _UUID.match(ident) else ident
    if _UUID.match(namespace_uid):
        return f"harvester-{namespace_uid[:8].lower()}"
    return stem or "bundle"


def _find_root(names: list[str]) -> str:
    """The folder inside the tree that holds ``yamls/`` (``""`` or ``<top>/``)."""
    if any(_MARKERS.match(n) for n in names):
        return ""
    tops = sorted(
        {n.split("/", 1)[0] + "/" for n in names if "/" in n and _MARKERS.match(n.split("/", 1)[1])}
    )
    if len(tops) == 1:
        return tops[0]
    if tops:
        raise ArchiveError(f"holds {len(tops)} support bundles ({', '.join(tops)}); give one")
    raise ArchiveError(
        "is not a Harvester support bundle: no yamls/ or nodes/ folder and no "
        "metadata.yaml (reference/harvester.md §4)"
    )


class _Reader:
    """Reads one bundle tree into a SnapshotBuilder."""

    def __init__(
        self, tree: Tree, root: str, builder: SnapshotBuilder, limits: Limits, budget: Budget
    ) -> None:
        self.tree, self.root, self.b, self.limits, self.budget = tree, root, builder, limits, budget
        self.names = [n[len(root) :] for n in tree.names() if n.startswith(root)]
        self.present = set(self.names)
        for name, reason in tree.refused().items():  # linked-out or unlistable folders
            self.b.cover(f"file:{name.removeprefix(root)}", CoverageStatus.ERROR, reason)

    def read(self, name: str, limit: int) -> bytes:
        return self.tree.read(self.root + name, limit=limit)

    def gap(self, name: str, subject: str | None, reason: str) -> str:
        self.b.cover(f"file:{name}", CoverageStatus.ERROR, reason)
        if subject:
            self.b.cover(subject, CoverageStatus.ERROR, f"{name}: {reason}")
        return f"{name}: {reason}"

    def documents(self, name: str, subject: str | None) -> list[Any] | None:
        """The denulled documents of one YAML file, or None after recording the gap."""
        try:
            text = self.read(name, self.limits.max_file_bytes).decode("utf-8")
            return [denull(d) for d in load_documents(text) if d is not None]
        except MemberError as e:
            self.gap(name, subject, str(e))
        except UnicodeDecodeError:
            self.gap(name, subject, "not UTF-8 text")
        except DocumentError as e:
            self.gap(name, subject, str(e)[:200])
        return None

    def ingest(self, name: str, subject: str) -> None:
        docs = self.documents(name, subject)
        if docs is None:
            return
        try:
            for doc in docs:
                objects.ingest(self.b, doc)
        except _READ_ERRORS as e:
            self.gap(name, subject, str(e)[:200] or type(e).__name__)
            return
        if subject not in self.b.coverage:  # a clean file without objects: nothing to miss
            self.b.cover(subject, CoverageStatus.READ)

    def metadata(self) -> tuple[str, str]:
        """Read metadata.yaml; return (namespace UID, Harvester version), "" if unknown."""
        docs = self.documents("metadata.yaml", None) if "metadata.yaml" in self.present else None
        meta = docs[0] if docs and isinstance(docs[0], dict) else {}
        # yaml.v2 writes untagged fields lower-cased; the json tags spell them otherwise.
        keys = {str(k).lower(): v for k, v in meta.items()}
        uid = keys.get("projectnamespaceuuid") or keys.get("projectnamspaceuuid")
        version = keys.get("projectversion")
        return (uid if isinstance(uid, str) else "", version if isinstance(version, str) else "")

    def settings(self) -> None:
        if HARVESTER_SETTINGS in self.present:
            self.ingest(HARVESTER_SETTINGS, "settings")
        for name in EXCLUDED_SETTINGS:
            if f"setting:{name}" not in self.b.coverage:  # never hide one this bundle has
                self.b.cover(f"setting:{name}", CoverageStatus.EXCLUDED, EXCLUDED_DETAIL)
        if RANCHER_SETTINGS in self.present:
            self.ingest(RANCHER_SETTINGS, "rancher-settings")

    def objects(self) -> None:
        if NODES in self.present:
            self.ingest(NODES, "nodes")
        core_ns = {m.group(1) for n in self.names if (m := _EVENTS.match(n)) and m.group(2) == "v1"}
        for name in self.names:
            m = _EVENTS.match(name)
            # events.k8s.io/v1 lists the same Event objects as v1: read one view only
            if m and (m.group(2) == "v1" or m.group(1) not in core_ns):
                self.ingest(name, "events")
        for name in WEBHOOKS:
            if name in self.present:
                self.ingest(name, "webhooks")

    def secrets(self) -> None:
        for name in self.names:
            if _SECRETS.match(name):
                self.ingest(name, "secrets")
        item = self.b.coverage.get("secrets")
        with_certs = any(c.location.kind == "Secret" for c in self.b.certificates)
        if item is None or (item.status == CoverageStatus.READ and not with_certs):
            # Bundles keep only fleet-local machine-plan Secrets, minus most data keys.
            self.b.cover("secrets", CoverageStatus.EXCLUDED, SECRETS_DETAIL)

    def node_files(self) -> None:
        nodes: dict[str, list[str]] = {}
        for name in self.names:
            if m := _NODE.match(name):
                nodes.setdefault(m.group(1), []).append(name)
        if not nodes:
            self.b.cover("node-files", CoverageStatus.MISSING, "bundle has no nodes/ folder")
            return
        good, gaps = False, list[str]()
        for node, names in sorted(nodes.items()):
            read, lost = self.node(node, names)
            good, gaps = good or read, gaps + lost
            self.b.cover(f"node-files:{node}", _outcome(read, lost), "; ".join(lost))
        self.b.cover("node-files", _outcome(good, gaps), "; ".join(gaps))

    def node(self, node: str, names: list[str]) -> tuple[bool, list[str]]:
        """Collect one node's files: (read at all, the gaps)."""
        archive = f"nodes/{node}.zip"
        if archive not in names:  # an unpacked node folder; its errors are the bundle's
            folder = f"nodes/{node}/"
            # Its entries from node_files' one listing: listing the bundle again for each
            # node folder took time quadratic in the entries (16k node folders: 17 s).
            inside = [self.root + n for n in names if n.startswith(folder)]
            return True, self.collect(node, self.tree, inside, self.root + folder, folder)
        try:  # an ArchiveError here is the bundle's own: fatal
            data = self.read(archive, self.limits.max_file_bytes)
        except MemberError as e:
            return False, [self.gap(archive, None, str(e))]
        try:
            with closing(open_zip(data, limits=self.limits, budget=self.budget)) as inner:
                return True, self.collect(node, inner, inner.names(), "", f"{archive}/")
        except ArchiveError as e:  # only this node's archive is bad
            return False, [self.gap(archive, None, str(e))]

    def collect(
        self, node: str, tree: Tree, names: list[str], prefix: str, label: str
    ) -> list[str]:
        """Add the journals and /oem configs of one node (``names``: its entries in ``tree``,
        all under ``prefix``); return the gaps. A nested archive's ArchiveError propagates."""
        found: dict[str, str] = {}
        for name in sorted(names, key=lambda n: (n.count("/"), n)):
            rel = name[len(prefix) :]
            log, oem = _LOG.search(rel), _OEM.search(rel)
            path = (
                f"logs/{log.group(1)}.log" if log else f"configs/oem/{oem.group(1)}" if oem else ""
            )
            if path and path not in found:  # shallowest copy wins
                found[path] = name
        gaps = []
        for path, name in found.items():
            try:
                if path.startswith("logs/"):
                    data = tree.read_tail(name, limit=self.limits.max_log_bytes + 1)
                    if len(data) > self.limits.max_log_bytes:  # cut: drop the partial first line
                        cut = data.find(b"\n")
                        data = data[cut + 1 :] if cut >= 0 else data[-self.limits.max_log_bytes :]
                else:
                    data = tree.read(name, limit=MAX_CONFIG_BYTES)
            except MemberError as e:
                where = label + name.removeprefix(prefix)
                self.b.cover(f"file:{where}", CoverageStatus.ERROR, str(e))
                gaps.append(f"{where}: {e}")
                continue
            self.b.node_files.append(NodeFile(node, path, data.decode("utf-8", errors="replace")))
        return gaps


def _outcome(ok: bool, gaps: list[str]) -> CoverageStatus:
    """ERROR when nothing could be read, PARTIAL when some files could not, else READ."""
    return (CoverageStatus.PARTIAL if gaps else CoverageStatus.READ) if ok else CoverageStatus.ERROR


def read_bundle(
    path: Path,
    *,
    cluster: str | None = None,
    scanned_at: datetime,
    limits: Limits = DEFAULT_LIMITS,
) -> Snapshot:
    """Read a support bundle (zip or folder) into a Snapshot; InputError if unusable."""
    budget = Budget(limits.max_total_bytes)
    try:
        tree = open_tree(path, limits=limits, budget=budget)
    except ArchiveError as e:
        raise InputError(str(path), str(e)) from e
    try:
        root = _find_root(tree.names())
        builder = SnapshotBuilder(
            cluster=cluster or "", source="bundle", origin=str(path), scanned_at=scanned_at
        )
        reader = _Reader(tree, root, builder, limits, budget)
        uid, version = reader.metadata()
        if not cluster:
            builder.cluster = bundle_cluster_name(
                path, top_folder=root.rstrip("/"), namespace_uid=uid
            )
        reader.settings()
        if "server-version" not in builder.settings:
            builder.harvester_version = version  # else build() takes the setting's
        reader.objects()
        reader.secrets()
        reader.node_files()
    except ArchiveError as e:
        raise InputError(str(path), str(e)) from e
    finally:
        tree.close()
    for subject, detail in MISSING.items():
        if subject not in builder.coverage:
            builder.cover(subject, CoverageStatus.MISSING, detail)
    return builder.build()
