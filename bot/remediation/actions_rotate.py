"""RKE2 certificate rotation for the catalog: Harvester's auto-rotation, or rotate now.

``enable_auto_rotate`` / ``fix_auto_rotate_window`` are setting changes (see
``actions_settings``) of ``auto-rotate-rke2-certs``, whose controller reads ``value``
only (reference/harvester.md §2.2).

``RotateRke2Certs`` does once what that controller and Rancher's "Rotate Certificates"
do: bump ``spec.rkeConfig.rotateCertificates.generation`` of
``clusters.provisioning.cattle.io fleet-local/local``; Rancher then renews the
certificates of every RKE2 service on every node and reports progress in
``rkecontrolplane fleet-local/local .status.certificateRotationGeneration`` (§2.2 step
3, §3.4). Like Harvester's controller it starts only when the control plane is Ready and
no rotation is in progress (the three generations agree). High risk: it restarts the
RKE2 control plane, so two people approve it. It answers cert-expiring / cert-expired
findings on RKE2 leaf certificates only: the PKI files RKE2 issues (§3.1) and the
kube-apiserver, kube-controller-manager and kube-scheduler listeners. Self-signed CAs
(10 years, ``rke2 certificate rotate-ca``) and certificates in Secrets are not its job.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bot.checks.setting_invalid import AUTO_ROTATE_MAX_HOURS
from bot.core.resources import ResourceRef
from bot.errors import UserError
from bot.kube.client import KubeClient
from bot.remediation.actions_settings import (
    AUTO_ROTATE,
    Change,
    Inputs,
    PlanOptions,
    decode_setting,
    read_object,
)
from bot.remediation.plan import NOT_RUN, RISK_HIGH, Drift, Plan, Target, field_value, render

CLUSTER = Target("provisioning.cattle.io/v1", "Cluster", "local", "fleet-local")
CONTROL_PLANE = Target("rke.cattle.io/v1", "RKEControlPlane", "local", "fleet-local")
FIELD = "spec.rkeConfig.rotateCertificates"
RESTARTS = (
    "each rotation restarts the RKE2 control plane (harvester#9155): the Kubernetes API "
    "and the Harvester UI are unavailable for some minutes"
)
# Leaf certificates RKE2 issues under /var/lib/rancher/rke2/{server/tls,agent} (§3.1);
# the CA files (*-ca.crt) are left out on purpose.
RKE2_LEAF_FILES = (
    "client-admin.crt",
    "client-auth-proxy.crt",
    "client-controller.crt",
    "client-kube-apiserver.crt",
    "client-kube-proxy.crt",
    "client-kubelet.crt",
    "client-rke2-cloud-controller.crt",
    "client-rke2-controller.crt",
    "client-scheduler.crt",
    "client-supervisor.crt",
    "serving-kube-apiserver.crt",
    "serving-kubelet.crt",
    "etcd/client.crt",
    "etcd/peer-server-client.crt",
    "etcd/server-client.crt",
    "kube-controller-manager/kube-controller-manager.crt",
    "kube-scheduler/kube-scheduler.crt",
)
# Listener ports (bot.sources.tlsprobe defaults) whose serving certificates it renews.
ROTATED_PORTS = {6443: "kube-apiserver", 10257: "kube-controller-manager", 10259: "kube-scheduler"}


def _auto_rotate(inputs: Inputs) -> dict[str, Any]:
    value = inputs.field("value")  # the controller ignores default
    return decode_setting(AUTO_ROTATE, "value", value) if value else {"enable": False}


def _rotate_value(hours: int) -> str:
    return json.dumps({"enable": True, "expiringInHours": hours}, separators=(",", ":"))


def _starts(hours: int) -> str:
    return (
        f"rotation starts when the kube-apiserver certificate expires within {hours} h "
        f"({hours / 24:g} days), about once a year"
    )


def enable_auto_rotate(inputs: Inputs) -> Change:
    doc, hours = _auto_rotate(inputs), inputs.options.auto_rotate_hours
    if doc["enable"]:
        raise UserError(
            f"{AUTO_ROTATE} is already enabled (expiringInHours={doc['expiringInHours']}); "
            "nothing to change"
        )
    policy, state = inputs.options.policy, "enable=false" if inputs.field("value") else "empty"
    return Change(
        value=_rotate_value(hours),
        preconditions=(
            f"{AUTO_ROTATE} is disabled (value {state})",
            f"expiringInHours={hours} lies within 1..{AUTO_ROTATE_MAX_HOURS} (webhook) and the "
            f"policy window {policy.auto_rotate_min_hours}..{policy.auto_rotate_max_hours} h",
        ),
        notes=(
            RESTARTS,
            _starts(hours),
            "auto-rotation does not repair certificates that already expired (harvester#9351)",
        ),
    )


def fix_auto_rotate_window(inputs: Inputs) -> Change:
    doc, hours, policy = (
        _auto_rotate(inputs),
        inputs.options.auto_rotate_hours,
        inputs.options.policy,
    )
    if not doc["enable"]:
        raise UserError(f"{AUTO_ROTATE} is disabled; use enable-auto-rotate")
    low, high = policy.auto_rotate_min_hours, policy.auto_rotate_max_hours
    if low <= int(doc["expiringInHours"]) <= high:
        raise UserError(
            f"expiringInHours={doc['expiringInHours']} is already within the policy window "
            f"{low}..{high} h; nothing to change"
        )
    return Change(
        value=_rotate_value(hours),
        preconditions=(
            "auto-rotation is enabled (enable stays true)",
            f"expiringInHours={doc['expiringInHours']} lies outside the policy window "
            f"{low}..{high} h",
        ),
        notes=(RESTARTS, _starts(hours)),
    )


def is_rke2_leaf_file(path: str) -> bool:
    """Is ``path`` (relative to the scanned folder) one of RKE2's leaf certificate files?"""
    path = path.replace("\\", "/")
    return any(path == name or path.endswith("/" + name) for name in RKE2_LEAF_FILES)


def _generation(obj: Mapping[str, Any], path: str) -> int:
    value = field_value(obj, path)
    if value is None:
        return 0  # never rotated
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise UserError(f"{path} is not a generation number ({value!r}); look at it by hand")
    return value


def check_ready(cluster: Mapping[str, Any], control_plane: Mapping[str, Any]) -> int:
    """The current rotation generation; UserError unless the control plane is Ready and
    the cluster spec, control plane spec and status generations agree."""
    conditions = field_value(control_plane, "status.conditions")
    ready = next(
        (c for c in conditions or [] if isinstance(c, Mapping) and c.get("type") == "Ready"),
        None,
    )
    if ready is None or ready.get("status") != "True":
        state = "no Ready condition" if ready is None else f"Ready={ready.get('status')}"
        why = f": {ready.get('message')}" if ready and ready.get("message") else ""
        raise UserError(
            f"the RKE2 control plane fleet-local/local is not Ready ({state}{why}); "
            "rotate certificates only on a healthy control plane"
        )
    wanted = _generation(cluster, f"{FIELD}.generation")
    accepted = _generation(control_plane, "spec.rotateCertificates.generation")
    reached = _generation(control_plane, "status.certificateRotationGeneration")
    if not wanted == accepted == reached:
        raise UserError(
            f"a certificate rotation is in progress (generation {wanted} requested, "
            f"{accepted} accepted, {reached} reached); wait until it finishes"
        )
    return wanted


class RotateRke2Certs:
    """``rotate-rke2-certs`` (the catalog's ``Action`` protocol)."""

    id = "rotate-rke2-certs"
    title = "Rotate the RKE2 certificates (Rancher rotation of fleet-local/local)"
    answers = ("cert-expiring", "cert-expired")
    risk = RISK_HIGH
    approvals = 2

    def applies_to(
        self, check_id: str, resource: ResourceRef, evidence: Mapping[str, Any]
    ) -> str | None:
        if check_id not in self.answers:
            return f"{self.id} fixes {', '.join(self.answers)} findings, not {check_id}"
        if evidence.get("subject") and evidence.get("subject") == evidence.get("issuer"):
            return (
                "the certificate is a self-signed CA: the rotation renews leaf certificates "
                "only (RKE2 CAs are renewed with rke2 certificate rotate-ca)"
            )
        if resource.kind == "File" and is_rke2_leaf_file(resource.name):
            return None
        port = resource.name.rpartition(":")[2]
        if resource.kind == "TLSEndpoint" and port.isdigit() and int(port) in ROTATED_PORTS:
            return None
        return (
            f"{self.id} renews RKE2 certificates only (RKE2 PKI files, kube-apiserver "
            f"endpoints); {resource} is not one: renew it where it was issued"
        )

    def plan(
        self,
        client: KubeClient,
        *,
        cluster: str,
        finding_id: str,
        check_id: str,
        evidence: Mapping[str, Any],
        now: datetime,
        options: PlanOptions,
    ) -> Plan:
        current = read_object(client, CLUSTER, missing=" (is this a Harvester cluster?)")
        generation = check_ready(current, read_object(client, CONTROL_PLANE))
        planned_against = field_value(current, FIELD)
        rotate = dict(planned_against) if isinstance(planned_against, Mapping) else {}
        change: dict[str, Any] = {"generation": generation + 1}
        notes = [
            RESTARTS.replace("each rotation", "the rotation"),
            "Rancher renews the certificates of every RKE2 service on every node, as "
            "Harvester's auto-rotation and Rancher's Rotate Certificates do (§3.4); CA "
            "certificates are not rotated",
            "verification: rkecontrolplane fleet-local/local status.certificateRotation"
            f"Generation reaches {generation + 1}; a re-scan shows later notAfter dates",
        ]
        if rotate.get("services"):
            change["services"] = None  # rotate every service, not a list left by someone
            notes.append(f"drops the services list {rotate['services']} of an earlier rotation")
        if check_id == "cert-expired":
            notes.append(
                "certificates that already expired may need manual steps on the node "
                "(harvester#9351, rancher/rke2#8318)"
            )
        after = {k: v for k, v in (rotate | change).items() if v is not None}
        return Plan(
            action=self.id,
            title=self.title,
            cluster=cluster,
            finding_id=finding_id,
            check_id=check_id,
            risk=self.risk,
            approvals_required=self.approvals,
            target=CLUSTER,
            resource_version=str(current["metadata"]["resourceVersion"]),
            field=FIELD,
            before=render(planned_against),
            after=render(after),
            patch={"spec": {"rkeConfig": {"rotateCertificates": change}}},
            preconditions=(
                "rkecontrolplane fleet-local/local is Ready (Ready=True)",
                f"no rotation in progress: generation {generation} is requested, accepted "
                "and reached (cluster spec = control plane spec = status)",
            ),
            notes=tuple(notes),
            dry_run=NOT_RUN,
            created_at=now,
        )

    def build_patch(self, plan: Plan, current: Mapping[str, Any]) -> dict[str, Any]:
        return plan.build_patch(current)

    def recheck(self, client: KubeClient, plan: Plan) -> None:
        try:
            check_ready(read_object(client, CLUSTER), read_object(client, CONTROL_PLANE))
        except UserError as e:
            raise Drift(f"{e}; make a new plan later") from None

    def verify_target(self, plan: Plan) -> Target:
        return CONTROL_PLANE

    def verified(self, fresh: Mapping[str, Any], plan: Plan) -> bool:
        """True once the control plane reports the planned generation as reached."""
        if fresh.get("kind") != CONTROL_PLANE.kind:
            raise ValueError(f"verified() needs the {CONTROL_PLANE} object")
        planned = _generation(plan.patch or {}, f"{FIELD}.generation")
        return _generation(fresh, "status.certificateRotationGeneration") >= planned

    def secret_strings(self, current: Mapping[str, Any]) -> tuple[str, ...]:
        return ()
