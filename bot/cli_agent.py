"""`secbot agent`: publish this node's RKE2 PKI inventory for the bot (issue #7).

Runs as a DaemonSet on the control-plane nodes with the PKI folder mounted read-only
(default ``/host/var/lib/rancher/rke2/server/tls``) and publishes the certificates it
finds (never a key) as the ConfigMap ``secbot-pki-<node>`` in its own namespace (the pod's:
``secbot-agent`` in the deploy manifests, where the bot looks by default), every
``--interval`` (at most 7 days: the bot rejects a longer one), with the pod's service
account (or ``--kubeconfig``/``--context`` when run outside a pod). ``--once`` publishes
once and exits (1 when that failed);
``--print`` prints the inventory and needs no cluster. SIGTERM ends the loop with exit 0.
Bad options are one line on stderr and exit 2.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from bot.agent.loop import AgentConfig
    from bot.kube.client import KubeClient, Timeouts

DEFAULT_PKI_DIR = "/host/var/lib/rancher/rke2/server/tls"
SA_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
EXIT_PUBLISH_FAILED = 1
_PATH = click.Path(path_type=Path)


def _namespace(given: str | None) -> str:
    """--namespace / POD_NAMESPACE, else the pod's own namespace; UserError otherwise."""
    import re

    from bot.errors import UserError

    namespace = (given or "").strip()
    if not namespace:
        try:
            namespace = SA_NAMESPACE_FILE.read_text(encoding="utf-8").strip()
        except OSError:
            raise UserError(
                "no namespace to publish in: give --namespace or set POD_NAMESPACE "
                f"(outside a pod there is no {SA_NAMESPACE_FILE})"
            ) from None
    if not re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", namespace):
        raise UserError(f"--namespace {namespace!r} is not a Kubernetes namespace name")
    return namespace


@click.command()
@click.option(
    "--pki-dir",
    type=_PATH,
    default=DEFAULT_PKI_DIR,
    envvar="SECBOT_AGENT_PKI_DIR",
    show_default=True,
    show_envvar=True,
    help="Folder of RKE2 certificate files (a read-only hostPath).",
)
@click.option("--node", envvar="NODE_NAME", show_envvar=True, help="This node's name (required).")
@click.option(
    "--namespace",
    envvar="POD_NAMESPACE",
    show_envvar=True,
    help="Namespace of the ConfigMap (default: the pod's own).",
)
@click.option(
    "--interval",
    default="6h",
    envvar="SECBOT_AGENT_INTERVAL",
    show_default=True,
    show_envvar=True,
    help="Publish this often (90s, 15m, 6h, 1d; at most 7d).",
)
@click.option("--once", is_flag=True, help="Publish once and exit.")
@click.option(
    "--print", "print_only", is_flag=True, help="Print the inventory JSON; publish nothing."
)
@click.option("--kubeconfig", type=_PATH, help="Use this kubeconfig instead of the pod's account.")
@click.option("--context", help="Context of the kubeconfig (with --kubeconfig or alone).")
def agent(
    pki_dir: Path,
    node: str | None,
    namespace: str | None,
    interval: str,
    once: bool,
    print_only: bool,
    kubeconfig: Path | None,
    context: str | None,
) -> None:
    """Publish this node's RKE2 certificates (never keys) for the bot to check."""
    import json
    import sys
    from datetime import UTC, datetime

    from bot import wiring
    from bot.agent.loop import AgentConfig
    from bot.core.durations import parse_duration
    from bot.errors import UserError
    from bot.sources.pki_inventory import MAX_INTERVAL_SECONDS

    node = (node or "").strip()
    if not node:
        raise UserError("give --node NAME or set NODE_NAME (the downward API's spec.nodeName)")
    try:
        every = parse_duration(interval)
    except ValueError as e:
        raise UserError(f"--interval: {e}") from None
    if every.total_seconds() > MAX_INTERVAL_SECONDS:
        raise UserError(
            f"--interval: {interval[:40]!r} is over 7d, the longest the bot accepts "
            "(it would call a longer one's inventories malformed)"
        )
    settings = wiring.settings_for_command()
    if print_only:
        from bot.sources.pki_inventory import build_inventory

        doc = build_inventory(
            pki_dir, node=node, now=datetime.now(UTC), interval_seconds=int(every.total_seconds())
        )
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
        return
    config = AgentConfig(root=pki_dir, node=node, namespace=_namespace(namespace), interval=every)
    connect = _connector(kubeconfig, context, wiring.kube_timeouts(settings))
    try:
        connect().close()  # a kubeconfig or in-cluster setup that cannot work: exit 2 now
    except UserError as e:
        hint = "" if kubeconfig or context else "; outside a pod, give --kubeconfig"
        raise UserError(f"{e}{hint}") from None
    if once:
        from bot.agent.loop import describe, one_round

        try:
            click.echo(str(one_round(config, connect=connect, clock=lambda: datetime.now(UTC))))
        except Exception as e:  # boundary: one line, no traceback
            click.echo(f"secbot: error: publishing {config.target} failed: {describe(e)}", err=True)
            sys.exit(EXIT_PUBLISH_FAILED)
        return
    _serve(config, connect)


def _connector(
    kubeconfig: Path | None, context: str | None, timeouts: Timeouts
) -> Callable[[], KubeClient]:
    """The pod's service account, unless a kubeconfig or context is given."""
    from functools import partial

    from bot.kube.client import KubeClient, KubeTarget

    if kubeconfig is None and context is None:
        target = KubeTarget(name="in-cluster", in_cluster=True)
    else:
        target = KubeTarget(name="agent", kubeconfig=kubeconfig, context=context)
    return partial(KubeClient.connect, target, timeouts=timeouts)


def _serve(config: AgentConfig, connect: Callable[[], KubeClient]) -> None:
    """The loop until SIGTERM (or SIGINT): then the current wait ends and we exit 0."""
    import signal
    import threading
    from datetime import UTC, datetime

    from bot.agent.loop import one_round, run_loop

    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()  # the loop's wait returns True: no new round starts

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    run_loop(
        lambda: one_round(config, connect=connect, clock=lambda: datetime.now(UTC)),
        config=config,
        wait=stop.wait,
    )
