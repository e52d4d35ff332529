#!/usr/bin/env python3
"""Write the sample Harvester support bundle examples/supportbundle_<uid>_<time>.zip.

A three-node Harvester v1.4.2 cluster in the layout support-bundle-kit writes
(reference/harvester.md §4), including its rewriting quirk (empty strings and ``"k":null,``
become the string "null"), with problems planted for secbot to find; examples/README.md
lists them. Run ``python examples/make_sample_bundle.py``. The output is reproducible
except for the two webhook CA certificates, whose keys are generated on each run and
then thrown away (bundles never hold keys). Needs PyYAML and cryptography.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import uuid
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import yaml
from _sample_nodes import NODES, node_files  # sibling module (the script folder is on sys.path)
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

UID = "3f9c2a17-6b41-4d2e-9a5c-7e08d1b4c2f5"  # of the harvester-system namespace
CREATED = datetime(2026, 1, 15, 10, 23, 45, tzinfo=UTC)
NAME = f"supportbundle_{UID}_{CREATED:%Y-%m-%dT%H-%M-%SZ}"
ZIP_TIME = (2026, 1, 15, 10, 23, 45)
INSTALLED = "2025-02-20T09:14:07Z"
PROXY = "http://proxyuser:Sup3rS3cret!@proxy.corp.example:3128"
# node 192.168.10.13 is missing: the webhook would reject this today (reference §2.1)
NO_PROXY = "192.168.10.11,192.168.10.12,localhost,127.0.0.1,.svc,.cluster.local"
SSL_CIPHERS = "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:DES-CBC3-SHA"


def quirk(obj: object) -> object:
    """support-bundle-kit's rewrite of the raw JSON (collectors/common.go toObjCommon)."""
    raw = json.dumps(obj, separators=(",", ":"))
    raw = re.sub(r'("[a-zA-Z]+":)(null,)', r'\1"null",', raw)
    raw = re.sub(r'(\\"[a-zA-Z]+\\":)(null,)', r'\1\\"null\\",', raw)
    return json.loads(raw.replace('""', '"null"'))


def as_list(api_version: str, kind: str, items: list[dict]) -> str:
    for item in items:
        item["apiVersion"], item["kind"] = api_version, kind
    body = {"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}}
    return yaml.safe_dump(quirk(body), sort_keys=True, default_flow_style=False)


def meta(name: str, rv: int, *, ns: str = "", created: str = INSTALLED, **extra: object) -> dict:
    m = {"name": name, "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{ns}/{name}")),
         "resourceVersion": str(rv), "creationTimestamp": created, **extra}
    if ns:
        m["namespace"] = ns
    return m


def setting(name: str, rv: int, default: str = "", value: str = "") -> dict:
    obj: dict = {"metadata": meta(name, rv, generation=2 if value else 1)}
    if default:
        obj["default"] = default
    cond = {"type": "configured", "status": "True" if value else "False",
            "lastUpdateTime": "2025-06-03T13:02:41Z"}
    if value:
        obj["value"] = value
        digest = hashlib.sha224(value.encode()).hexdigest()
        obj["metadata"]["annotations"] = {"harvesterhci.io/hash": digest}
    obj["status"] = {"conditions": [cond]}
    return obj


def j(obj: object) -> str:
    """A JSON setting value as Harvester stores it (Go encoding/json: compact)."""
    return json.dumps(obj, separators=(",", ":"))


def harvester_settings() -> list[dict]:
    rows = [
        ("additional-guest-memory-overhead-ratio", "1.5", ""),
        ("auto-disk-provision-paths", "", ""),
        ("auto-rotate-rke2-certs", '{"enable":false,"expiringInHours":240}', ""),
        ("backup-target", "", j({"type": "nfs", "endpoint": "nfs://192.168.10.50:/srv/backup"})),
        ("csi-driver-config", j({"driver.longhorn.io": {
            "volumeSnapshotClassName": "longhorn-snapshot",
            "backupVolumeSnapshotClassName": "longhorn"}}), ""),
        ("default-vm-termination-grace-period-seconds", "120", ""),
        ("http-proxy", "{}", j({"httpProxy": PROXY, "httpsProxy": PROXY, "noProxy": NO_PROXY})),
        ("kubeconfig-default-token-ttl-minutes", "0", ""),
        ("log-level", "info", ""),
        ("max-hotplug-ratio", "4", ""),
        ("ntp-servers", "", j({"ntpServers": ["0.suse.pool.ntp.org", "1.suse.pool.ntp.org"]})),
        ("overcommit-config", '{"cpu":1600,"memory":150,"storage":200}', ""),
        ("release-download-url", "https://releases.rancher.com/harvester", ""),
        ("server-version", "v1.4.2", ""),
        ("ssl-parameters", "{}", j({"protocols": "TLSv1.1 TLSv1.2", "ciphers": SSL_CIPHERS})),
        ("storage-network", "", ""),
        ("support-bundle-expiration", "30", ""),
        ("support-bundle-image", j({"repository": "rancher/support-bundle-kit",
                                    "tag": "v0.0.46", "imagePullPolicy": "IfNotPresent"}), ""),
        ("support-bundle-namespaces", "", ""),
        ("support-bundle-timeout", "10", ""),
        ("ui-index", "https://releases.rancher.com/harvester-ui/dashboard/release-harvester-v1.4"
                     "/index.html", ""),
        ("ui-source", "auto", ""),
        ("upgrade-checker-enabled", "true", ""),
        ("upgrade-checker-url", "https://harvester-upgrade-responder.rancher.io/v1/checkupgrade",
         ""),
        ("vm-force-reset-policy", '{"enable":true,"period":15}', ""),
        ("vm-migration-network", "", ""),
    ]
    out = [setting(name, 4100 + i, default, value) for i, (name, default, value) in
           enumerate(rows)]
    out[6]["metadata"]["managedFields"] = [{  # http-proxy: kubectl and the UI touched it
        "apiVersion": "harvesterhci.io/v1beta1", "fieldsType": "FieldsV1",
        "fieldsV1": {"f:value": {}}, "manager": "harvester", "operation": "Update",
        "time": "2025-06-03T13:02:41Z"}]
    return out


def rancher_settings() -> list[dict]:
    rows = [("agent-tls-mode", "strict", ""), ("first-login", "true", "false"),
            ("server-url", "", "https://192.168.10.10"), ("server-version", "v2.10.1", ""),
            ("ui-brand", "", "harvester")]
    return [{"customized": False, "default": default, "metadata": meta(name, 300 + i),
             "source": "", "value": value} for i, (name, default, value) in enumerate(rows)]


def ca_cert(cn: str, org: str, not_before: datetime, not_after: datetime, serial: int,
            *, rsa_key: bool) -> str:
    key = rsa.generate_private_key(65537, 2048) if rsa_key else ec.generate_private_key(
        ec.SECP256R1())
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)] if org else []
    name = x509.Name([*attrs, x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(serial)
            .not_valid_before(not_before).not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, True, False, False, True, False, False,
                                         False), critical=True)
            .sign(key, hashes.SHA256()))
    del key  # never written anywhere
    return base64.b64encode(cert.public_bytes(serialization.Encoding.PEM)).decode()


def webhook(name: str, service: str, path: str, ca: str, rules: list[dict]) -> dict:
    return {"admissionReviewVersions": ["v1"], "clientConfig": {"caBundle": ca, "service": {
        "name": service, "namespace": "harvester-system", "path": path, "port": 443}},
        "failurePolicy": "Fail", "matchPolicy": "Equivalent", "name": name,
        "namespaceSelector": {}, "objectSelector": {}, "rules": rules, "sideEffects": "None",
        "timeoutSeconds": 10}


def webhooks() -> dict[str, str]:
    healthy = ca_cert("dynamiclistener-ca@1741943647", "dynamiclistener-org",
                      datetime(2025, 3, 14, 9, 14, 7, tzinfo=UTC),
                      datetime(2035, 3, 12, 9, 14, 7, tzinfo=UTC), 0x5A1E, rsa_key=False)
    expired = ca_cert("harvester-system_cdi-apiserver-signer@1732953600", "",
                      datetime(2024, 11, 30, 8, 0, tzinfo=UTC),
                      datetime(2025, 11, 30, 8, 0, tzinfo=UTC), 0xCD1, rsa_key=True)
    rule = {"apiGroups": ["harvesterhci.io"], "apiVersions": ["v1beta1"],
            "operations": ["CREATE", "UPDATE"], "resources": ["settings"], "scope": "*"}
    dv_rule = {"apiGroups": ["cdi.kubevirt.io"], "apiVersions": ["v1beta1"],
               "operations": ["CREATE", "UPDATE"], "resources": ["datavolumes"], "scope": "*"}
    api = "yamls/cluster/admissionregistration.k8s.io/v1/"
    return {
        api + "validatingwebhookconfigurations.yaml": as_list(
            "admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", [
                {"metadata": meta("cdi-api-datavolume-validate", 8811),
                 "webhooks": [webhook("datavolume-validate.cdi.kubevirt.io", "cdi-api",
                                      "/datavolume-validate", expired, [dv_rule])]},
                {"metadata": meta("harvester-validator", 9021),
                 "webhooks": [webhook("validator.harvesterhci.io", "harvester-webhook",
                                      "/v1/webhook/validation", healthy, [rule])]}]),
        api + "mutatingwebhookconfigurations.yaml": as_list(
            "admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration", [
                {"metadata": meta("harvester-mutator", 9022),
                 "webhooks": [webhook("mutator.harvesterhci.io", "harvester-webhook",
                                      "/v1/webhook/mutation", healthy, [rule])]}]),
        "yamls/cluster/apiregistration.k8s.io/v1/apiservices.yaml": as_list(
            "apiregistration.k8s.io/v1", "APIService", [
                {"metadata": meta("v1.", 12), "spec": {"group": "", "groupPriorityMinimum":
                 18000, "service": None, "version": "v1", "versionPriority": 1}},
                {"metadata": meta("v1beta1.metrics.k8s.io", 5120), "spec": {
                    "group": "metrics.k8s.io", "groupPriorityMinimum": 100,
                    "insecureSkipTLSVerify": True, "service": {
                        "name": "rke2-metrics-server", "namespace": "kube-system", "port": 443},
                    "version": "v1beta1", "versionPriority": 100}}]),
    }


def node_object(name: str, ip: str, ready: bool) -> dict:
    labels = {"beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
              "harvesterhci.io/managed": "true", "kubernetes.io/arch": "amd64",
              "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
              "node-role.kubernetes.io/control-plane": "true",
              "node-role.kubernetes.io/etcd": "true", "node-role.kubernetes.io/master": "true",
              "node.kubernetes.io/instance-type": "rke2"}
    cond = ({"type": "Ready", "status": "True", "reason": "KubeletReady",
             "message": "kubelet is posting ready status"} if ready else
            {"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown",
             "message": "Kubelet stopped posting node status."})
    return {
        "metadata": meta(name, 77310 + int(ip[-1]), labels=labels, annotations={
            "rke2.io/hostname": name, "rke2.io/internal-ip": ip,
            "rke2.io/node-args": '["server","--token","********"]'}),
        "spec": {"podCIDR": f"10.52.{ip[-1]}.0/24", "providerID": f"rke2://{name}"},
        "status": {
            "addresses": [{"type": "InternalIP", "address": ip},
                          {"type": "Hostname", "address": name}],
            "conditions": [{**cond, "lastHeartbeatTime": "2026-01-15T10:21:02Z",
                            "lastTransitionTime": "2026-01-15T09:41:55Z" if not ready
                            else "2025-12-02T03:11:40Z"}],
            "nodeInfo": {"architecture": "amd64", "bootID": "",
                         "containerRuntimeVersion": "containerd://1.7.23-k3s2",
                         "kernelVersion": "5.14.21-150500.55.88-default",
                         "kubeProxyVersion": "v1.31.4+rke2r1",
                         "kubeletVersion": "v1.31.4+rke2r1", "operatingSystem": "linux",
                         "osImage": "Harvester v1.4.2"}},
    }


def event(ns: str, name: str, reason: str, message: str, *, kind: str, obj: str, typ: str,
          count: int, first: str, last: str, component: str, host: str = "") -> dict:
    return {"metadata": meta(name, 900000 + count, ns=ns, created=first),
            "involvedObject": {"kind": kind, "name": obj, "uid": obj},
            "reason": reason, "message": message, "type": typ, "count": count,
            "firstTimestamp": first, "lastTimestamp": last, "eventTime": None,
            "source": {"component": component, "host": host},
            "reportingComponent": "", "reportingInstance": ""}


def events() -> dict[str, str]:
    cert_msg = ("Node certificates require attention - restart rke2 on this node to trigger "
                "automatic rotation: kube-apiserver/serving-kube-apiserver.crt: certificate "
                "kube-apiserver will expire within 120 days at 2026-02-20T09:14:07Z")
    kube_system = [
        event("kube-system", "harvester-node-0.188a3c1f5e2d7a01", "CertificateExpirationWarning",
              cert_msg, kind="Node", obj="harvester-node-0", typ="Warning", count=3,
              first="2026-01-13T06:02:31Z", last="2026-01-15T06:02:29Z", component="rke2",
              host="harvester-node-0"),
        event("kube-system", "rke2-coredns-rke2-coredns-6b9d8c5c4f-7xk2p.188a4e0b1c9f3e22",
              "Pulled", 'Container image "rancher/hardened-coredns:v1.11.3-build20241018" '
              "already present on machine", kind="Pod", obj="rke2-coredns-rke2-coredns-6b9d8c5c4f"
              "-7xk2p", typ="Normal", count=1, first="2026-01-15T06:04:10Z",
              last="2026-01-15T06:04:10Z", component="kubelet", host="harvester-node-2"),
    ]
    default = [
        event("default", "harvester-node-1.188a51d0a3b4c5d6", "NodeNotReady",
              "Node harvester-node-1 status is now: NodeNotReady", kind="Node",
              obj="harvester-node-1", typ="Normal", count=1, first="2026-01-15T09:41:55Z",
              last="2026-01-15T09:41:55Z", component="node-controller"),
        event("default", "harvester-node-2.188a3d2e0f1a2b3c", "RegisteredNode",
              "Node harvester-node-2 event: Registered Node harvester-node-2 in Controller",
              kind="Node", obj="harvester-node-2", typ="Normal", count=1,
              first="2026-01-15T06:03:02Z", last="2026-01-15T06:03:02Z",
              component="node-controller"),
    ]
    # events.k8s.io/v1 is a second view of the same objects (regarding/note/series)
    new_view = [{"metadata": e["metadata"], "regarding": e["involvedObject"], "note":
                 e["message"], "reason": e["reason"], "type": e["type"], "eventTime": None,
                 "deprecatedCount": e["count"], "deprecatedFirstTimestamp": e["firstTimestamp"],
                 "deprecatedLastTimestamp": e["lastTimestamp"], "deprecatedSource": e["source"],
                 "reportingController": "", "reportingInstance": ""} for e in kube_system]
    ns = "yamls/namespaced/"
    return {
        ns + "kube-system/v1/events.yaml": as_list("v1", "Event", kube_system),
        ns + "kube-system/events.k8s.io/v1/events.yaml": as_list("events.k8s.io/v1", "Event",
                                                                 new_view),
        ns + "default/v1/events.yaml": as_list("v1", "Event", default),
    }


def machine_plans() -> str:
    items = []
    for i, (node, _ip) in enumerate(NODES):
        digest = hashlib.sha256(node.encode()).hexdigest()
        data = {"applied-checksum": digest, "failure-count": "0", "probe-statuses": j(
            {"calico": {"healthy": True, "successCount": 1}}), "success-count": str(12 + i)}
        items.append({"metadata": meta(f"custom-{digest[:12]}-machine-plan", 61000 + i,
                                       ns="fleet-local"), "type": "rke.cattle.io/machine-plan",
                      "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}})
    return as_list("v1", "Secret", items)


def bundle_files() -> dict[str, bytes]:
    files: dict[str, str | bytes] = {
        "metadata.yaml": yaml.safe_dump({
            "projectname": "Harvester", "projectversion": "v1.4.2",
            "kubernetesversion": "v1.31.4+rke2r1", "projectnamespaceuuid": UID,
            "bundlecreatedat": CREATED.strftime("%Y-%m-%dT%H:%M:%SZ"), "issueurl": "",
            "issuedescription": "Pre-upgrade check before v1.5.0; node-1 NotReady since 09:41"},
            sort_keys=False),
        "bundleGenerationError.log": "",
        "yamls/cluster/harvesterhci.io/v1beta1/settings.yaml": as_list(
            "harvesterhci.io/v1beta1", "Setting", harvester_settings()),
        "yamls/cluster/management.cattle.io/v3/settings.yaml": as_list(
            "management.cattle.io/v3", "Setting", rancher_settings()),
        "yamls/cluster/v1/nodes.yaml": as_list("v1", "Node", [
            node_object(name, ip, ready=name != "harvester-node-1") for name, ip in NODES]),
        "yamls/cluster/v1/namespaces.yaml": as_list("v1", "Namespace", [
            {"metadata": {**meta(ns, 40 + i), **({"uid": UID} if ns == "harvester-system"
                                                  else {})}, "status": {"phase": "Active"}}
            for i, ns in enumerate(["default", "fleet-local", "harvester-system",
                                    "kube-system", "longhorn-system"])]),
        "yamls/namespaced/fleet-local/v1/secrets.yaml": machine_plans(),
        **webhooks(),
        **events(),
    }
    for name, ip in NODES:
        files[f"nodes/{name}.zip"] = make_zip(dict(node_files(name, ip)))
    return {p: (t.encode() if isinstance(t, str) else t) for p, t in files.items()}


def make_zip(files: dict[str, str | bytes], prefix: str = "") -> bytes:
    """A zip with fixed timestamps and modes, so equal content gives equal bytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for path in sorted(files):
            info = zipfile.ZipInfo(prefix + path, date_time=ZIP_TIME)
            info.create_system, info.external_attr = 3, 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            data = files[path]
            zf.writestr(info, data.encode() if isinstance(data, str) else data)
    return out.getvalue()


def main() -> None:
    here = Path(__file__).resolve().parent
    for old in here.glob("supportbundle_*.zip"):
        old.unlink()
    target = here / f"{NAME}.zip"
    target.write_bytes(make_zip(dict(bundle_files()), prefix=f"{NAME}/"))
    print(f"wrote {target.relative_to(here.parent)} ({target.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
