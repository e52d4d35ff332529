"""Node archives of the sample bundle: /oem configs and journals (used by make_sample_bundle.py).

Paths follow support-bundle-kit's collector-harvester (reference/harvester.md §4): configs
copied with ``passwd``/``password``/``secret``/``token`` YAML keys masked as ``***``, and
journals of the RKE2/Rancher units. Lines are generated from a seeded RNG, so every run
writes the same text. The planted problems: harvester-node-1's rke2-server fails after a
token rotation (rancher/rke2#6250), harvester-node-2 sets the proxy by hand in /oem.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

NODES = [("harvester-node-0", "192.168.10.11"), ("harvester-node-1", "192.168.10.12"),
         ("harvester-node-2", "192.168.10.13")]
PROXY = "http://proxyuser:Sup3rS3cret!@proxy.corp.example:3128"
RKE2 = "v1.31.4+rke2r1"
COMMIT = "a3d3c4a7b1f0e2d5c6b8a9f0e1d2c3b4a5f6e7d8"
START = datetime(2026, 1, 14, 23, 50, 0, tzinfo=UTC)
REBOOT = datetime(2026, 1, 15, 6, 0, 12, tzinfo=UTC)
END = datetime(2026, 1, 15, 10, 23, 0, tzinfo=UTC)
TOKEN_ROTATED = datetime(2026, 1, 15, 9, 40, 51, tzinfo=UTC)
TOKEN_ERROR = ("Failed to reconcile with temporary etcd: bootstrap data already found and "
               "encrypted with different token")


def _journal(node: str, unit: str, pid: int):
    def line(at: datetime, level: str, msg: str, *, raw: bool = False) -> str:
        head = f"{at:%b %d %H:%M:%S} {node} {unit}[{pid}]: "
        if raw:
            return head + msg
        return head + f'time="{at:%Y-%m-%dT%H:%M:%SZ}" level={level} msg="{msg}"'
    return line


def _systemd(node: str, at: datetime, text: str) -> str:
    return f"{at:%b %d %H:%M:%S} {node} systemd[1]: {text}"


def _peers(ip: str) -> list[str]:
    return [p for _, p in NODES if p != ip]


def _startup(node: str, ip: str, at: datetime, pid: int) -> list[str]:
    line = _journal(node, "rke2", pid)
    peer = _peers(ip)[0]
    msgs = [
        f"Starting rke2 {RKE2} ({COMMIT[:8]})",
        "Managed etcd cluster bootstrap already complete and initialized",
        "Reconciling bootstrap data between datastore and disk",
        "Successfully reconciled with datastore",
        "Running temporary containerd /var/lib/rancher/rke2/bin/containerd -c "
        "/var/lib/rancher/rke2/agent/etc/containerd/config.toml",
        "Running kubelet --address=0.0.0.0 --anonymous-auth=false --authentication-token-webhook"
        "=true --cgroup-driver=systemd --client-ca-file=/var/lib/rancher/rke2/agent/client-ca.crt"
        f" --hostname-override={node} --node-ip={ip}",
        "Connecting to proxy\" url=\"wss://127.0.0.1:9345/v1-rke2/connect",
        f"Connecting to proxy\" url=\"wss://{peer}:9345/v1-rke2/connect",
        "Waiting for API server to become available",
        "ETCD server is now running",
        f"Adding member {node}-4f1c2b7e=https://{ip}:2380 to etcd cluster",
        "Pod for etcd is synced",
        "Pod for kube-apiserver is synced",
        "Tunnel authorizer set Kubelet Port 10250",
        "Starting managed etcd apiserver addresses controller",
        "Starting managed etcd member removal controller",
        "Starting /v1, Kind=Node controller",
        f"Labels and annotations have been set successfully on node: {node}",
        "rke2 is up and running",
    ]
    out = [_systemd(node, at, "Starting Rancher Kubernetes Engine v2 (server)...")]
    for i, msg in enumerate(msgs):
        out.append(line(at + timedelta(seconds=1 + i * 2), "info", msg))
        if node == "harvester-node-0" and i == 3:  # the same warning RKE2 sends as an event
            out.append(line(at + timedelta(seconds=8), "warning",
                            "Certificate kube-apiserver/serving-kube-apiserver.crt will expire "
                            "within 120 days at 2026-02-20T09:14:07Z"))
    out.append(_systemd(node, at + timedelta(seconds=40),
                        "Started Rancher Kubernetes Engine v2 (server)."))
    return out


def _periodic(node: str, ip: str, rng: random.Random, at: datetime, pid: int) -> str:
    line = _journal(node, "rke2", pid)
    peer = rng.choice(_peers(ip))
    pool = [
        ("info", f"Handling backend connection request [{rng.choice([n for n, _ in NODES])}]"),
        ("info", "Reconciling ETCDSnapshotFile resources"),
        ("info", "Reconciliation of ETCDSnapshotFile resources complete"),
        ("info", f"Connecting to proxy\" url=\"wss://{peer}:9345/v1-rke2/connect"),
        ("error", f"Remotedialer proxy error; reconnecting...\" error=\"websocket: close 1006 "
                  f"(abnormal closure): unexpected EOF\" url=\"wss://{peer}:9345/v1-rke2/connect"),
        ("info", f"Cluster-Http-Server {at:%Y/%m/%d %H:%M:%S} http: TLS handshake error from "
                 f"{peer}:{rng.randint(32768, 60999)}: EOF"),
        ("info", "Active TLS secret kube-system/rke2-serving (ver=95113) (count 14): "
                 f"map[listener.cattle.io/cn-{ip.replace('.', '_')}:{ip} "
                 "listener.cattle.io/cn-localhost:localhost]"),
        ("warning", "Proxy error: write failed: io: read/write on closed pipe"),
    ]
    level, msg = rng.choices(pool, weights=[6, 3, 3, 1, 1, 2, 2, 1])[0]
    return line(at, level, msg)


def rke2_server_log(node: str, ip: str) -> str:
    rng = random.Random(f"rke2-server/{node}")
    pid, lines, at = 2317, [], START
    snapshot = datetime(2026, 1, 15, 0, 0, 4, tzinfo=UTC)  # etcd-snapshot-schedule-cron 0 */12
    while at < REBOOT:
        lines.append(_periodic(node, ip, rng, at, pid))
        step = timedelta(seconds=rng.randint(30, 150))
        if at < snapshot <= at + step:
            lines.append(_journal(node, "rke2", pid)(snapshot, "info", "Saving etcd snapshot to "
                         f"/var/lib/rancher/rke2/server/db/snapshots/etcd-snapshot-{node}-"
                         f"{int(snapshot.timestamp())}"))
        at += step
    lines += [_systemd(node, REBOOT, "Stopping Rancher Kubernetes Engine v2 (server)..."),
              _systemd(node, REBOOT + timedelta(seconds=9),
                       "rke2-server.service: Deactivated successfully."),
              _systemd(node, REBOOT + timedelta(seconds=9),
                       "Stopped Rancher Kubernetes Engine v2 (server).")]
    pid, at = 1984, REBOOT + timedelta(minutes=1, seconds=28)
    lines += _startup(node, ip, at, pid)
    at += timedelta(seconds=45)
    stop = TOKEN_ROTATED if node == "harvester-node-1" else END
    while at < stop:
        lines.append(_periodic(node, ip, rng, at, pid))
        at += timedelta(seconds=rng.randint(30, 150))
    if node == "harvester-node-1":
        lines += _token_failure(node, ip)
    return "\n".join(lines) + "\n"


def _token_failure(node: str, ip: str) -> list[str]:
    """Someone ran ``rke2 token rotate`` and restarted: the crash loop of rke2#6250."""
    at = TOKEN_ROTATED
    out = [_systemd(node, at, "Stopping Rancher Kubernetes Engine v2 (server)..."),
           _systemd(node, at + timedelta(seconds=11), "Stopped Rancher Kubernetes Engine v2 "
                    "(server).")]
    at += timedelta(seconds=16)
    for restart in range(1, 22):
        pid = 31877 + restart * 57
        line = _journal(node, "rke2", pid)
        out += [_systemd(node, at, "Starting Rancher Kubernetes Engine v2 (server)..."),
                line(at, "info", f"Starting rke2 {RKE2} ({COMMIT[:8]})"),
                line(at + timedelta(seconds=1), "info", "Managed etcd cluster bootstrap already "
                     "complete and initialized"),
                line(at + timedelta(seconds=1), "info", "Starting temporary etcd to reconcile "
                     "with datastore"),
                line(at + timedelta(seconds=3), "fatal", TOKEN_ERROR),
                _systemd(node, at + timedelta(seconds=3), "rke2-server.service: Main process "
                         "exited, code=exited, status=1/FAILURE"),
                _systemd(node, at + timedelta(seconds=3), "rke2-server.service: Failed with "
                         "result 'exit-code'."),
                _systemd(node, at + timedelta(seconds=3), "Failed to start Rancher Kubernetes "
                         "Engine v2 (server)."),
                _systemd(node, at + timedelta(seconds=8), "rke2-server.service: Scheduled "
                         f"restart job, restart counter is at {restart}.")]
        at += timedelta(seconds=8)
    # an operator gave up and stopped the unit; the node stays NotReady
    return [*out, _systemd(node, at, "Stopped Rancher Kubernetes Engine v2 (server).")]


def kubelet_log(node: str, ip: str) -> str:
    rng = random.Random(f"kubelet/{node}")
    at, out = REBOOT + timedelta(minutes=1, seconds=52), []
    first = [f'"Kubelet version" kubeletVersion="{RKE2}"', '"Golang settings" GOGC="" '
             'GOMAXPROCS="" GOTRACEBACK=""', '"Systemd watchdog is not enabled"',
             f'"Attempting to register node" node="{node}"',
             f'"Successfully registered node" node="{node}"',
             '"Started kubelet"', '"Starting to sync pod status with apiserver"']
    periodic = ['"SyncLoop (PLEG): event for pod" pod="longhorn-system/instance-manager-'
                f'{rng.getrandbits(32):08x}" event={{"Type":"ContainerStarted"}}',
                '"Observed pod startup duration" pod="harvester-system/virt-handler-x7k9q"',
                '"RemoveContainer" containerID="' + f'{rng.getrandbits(64):016x}"']
    for i, msg in enumerate(first + [rng.choice(periodic) for _ in range(30)]):
        at += timedelta(seconds=1 if i < len(first) else rng.randint(60, 600))
        out.append(f"I{at:%m%d %H:%M:%S}.{rng.randint(0, 999999):06d}    4391 "
                   f"kubelet.go:{rng.randint(300, 2900)}] {msg}")
    return "\n".join(out) + "\n"


def small_logs(node: str, ip: str) -> dict[str, str]:
    at = REBOOT + timedelta(minutes=1)
    sa = _journal(node, "rancher-system-agent", 1311)
    rd = _journal(node, "rancherd", 1207)
    return {
        "logs/rancherd.log": "\n".join([
            rd(at, "info", "Loading config file [/etc/rancher/rancherd/config.yaml]"),
            rd(at, "info", "Bootstrap already complete"),
            _systemd(node, at + timedelta(seconds=1), "rancherd.service: Deactivated "
                     "successfully.")]) + "\n",
        "logs/rancher-system-agent.log": "\n".join([
            sa(at, "info", "Rancher System Agent version v0.3.11 (b8f5c4e) is starting"),
            sa(at, "info", "Using directory /var/lib/rancher/agent/work for work"),
            sa(at, "info", "Starting remote watch of plans"),
            sa(at + timedelta(seconds=4), "info", "Starting /v1, Kind=Secret controller"),
            sa(at + timedelta(minutes=3), "info", "[Applyinator] No image provided, creating "
               "empty working directory /var/lib/rancher/agent/work/20260115-060412/"
               "f3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855_0")]) + "\n",
        "logs/rke2-agent.log": "-- No entries --\n",
        "logs/containerd.log": f'time="{at:%Y-%m-%dT%H:%M:%S}.114527330Z" level=info '
                               'msg="starting containerd" revision= version=v1.7.23-k3s2\n',
        "logs/iscsid.log": f"{at:%b %d %H:%M:%S} {node} iscsid[1102]: iscsid: "
                           "iSCSI daemon with pid=1102 started!\n",
        "logs/kernel.log": f"{REBOOT:%b %d %H:%M:%S} {node} kernel: Linux version 5.14.21-"
                           "150500.55.88-default (geeko@buildhost) #1 SMP PREEMPT_DYNAMIC\n",
    }


def oem_custom(node: str, ip: str) -> str:
    env = ("" if node != "harvester-node-2" else
           "  - environment:\n"  # written by hand during an outage, never removed
           f"      HTTP_PROXY: {PROXY}\n      HTTPS_PROXY: {PROXY}\n"
           "      NO_PROXY: localhost,127.0.0.1,0.0.0.0,10.0.0.0/8,192.168.10.0/24,.svc,"
           ".cluster.local\n")
    return ("name: Harvester Configuration\nstages:\n  initramfs:\n" + env +
            "  - commands:\n    - modprobe kvm\n    - modprobe vhost_net\n"
            "    files:\n    - path: /etc/rancher/rke2/config.yaml.d/90-harvester-server.yaml\n"
            "      permissions: 384\n      owner: 0\n      group: 0\n      content: |\n"
            "        cni: multus,canal\n        cluster-cidr: 10.52.0.0/16\n"
            "        service-cidr: 10.53.0.0/16\n        cluster-dns: 10.53.0.10\n"
            "        tls-san:\n          - 192.168.10.10\n        audit-policy-file: "
            "/etc/rancher/rke2/config.yaml.d/92-harvester-kube-audit-policy.yaml\n"
            "      encoding: \"\"\n      ownerstring: \"\"\n"
            f"    hostname: {node}\n    timesyncd:\n"
            "      NTP: 0.suse.pool.ntp.org 1.suse.pool.ntp.org\n"
            "    users:\n      rancher:\n        passwd: '***'\n"
            "    ssh_authorized_keys: []\n")


def oem_rancherd(node: str) -> str:
    role = "cluster-init" if node == "harvester-node-0" else "server"
    server = "" if role == "cluster-init" else "        server: https://192.168.10.10:443\n"
    return ("name: Harvester Rancherd Configuration\nstages:\n  live:\n  - files:\n"
            "    - path: /etc/rancher/rancherd/config.yaml\n      permissions: 384\n"
            "      owner: 0\n      group: 0\n      content: |\n"
            f"        role: {role}\n{server}        token: ***\n"
            f"        kubernetesVersion: {RKE2}\n        rancherVersion: v2.10.1\n"
            "        labels:\n         - harvesterhci.io/managed=true\n"
            "      encoding: \"\"\n      ownerstring: \"\"\n")


def node_files(node: str, ip: str) -> dict[str, str]:
    return {
        "configs/etc/hostname": node + "\n",
        "configs/etc/os-release": 'NAME="SLE Micro"\nVERSION="5.5"\nID="sle-micro-rancher"\n'
                                  'PRETTY_NAME="Harvester v1.4.2"\nVARIANT_ID="harvester"\n',
        "configs/etc/harvester-release.yaml": f"harvester: v1.4.2\nharvesterChart: 1.4.2\n"
                                              f"os: Harvester v1.4.2\nkubernetes: {RKE2}\n"
                                              "rancher: v2.10.1\n",
        "configs/etc/rancher/rancherd/config.yaml": oem_rancherd(node).split("content: |\n")[1]
        .split("      encoding")[0].replace("        ", ""),
        "configs/oem/90_custom.yaml": oem_custom(node, ip),
        "configs/oem/99_custom.yaml": oem_rancherd(node),
        "configs/oem/harvester.config": f"token: '***'\nos:\n  hostname: {node}\n"
                                        "  password: '***'\ninstall:\n  mode: join\n",
        "logs/rke2-server.log": rke2_server_log(node, ip),
        "logs/kubelet.log": kubelet_log(node, ip),
        **small_logs(node, ip),
    }
