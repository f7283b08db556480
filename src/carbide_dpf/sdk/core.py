"""`DpfSdk`: the operations behind the provision, reprovision, update and delete flows.

Every operation checks all of its input first and raises one `ValidationError` before it
writes anything. Desired state is applied server-side (field manager `carbide-dpf`), names are
derived from their inputs, and deletes tolerate objects already gone, so running an operation
twice, or re-running a flow that stopped halfway, ends in the same state.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from carbide_dpf.errors import DpfError, FieldProblem, FlowTimeoutError
from carbide_dpf.kube.client import KubeClient, KubeObject
from carbide_dpf.kube.errors import ConflictError, NotFoundError
from carbide_dpf.kube.resource import SECRET, ResourceKind
from carbide_dpf.models.phase import DpuPhase
from carbide_dpf.models.registry import (
    BFB,
    DPU,
    DPU_DEPLOYMENT,
    DPU_DEVICE,
    DPU_FLAVOR,
    DPU_NODE,
    DPU_NODE_MAINTENANCE,
    DPU_SERVICE_CONFIGURATION,
    DPU_SERVICE_INTERFACE,
    DPU_SERVICE_TEMPLATE,
)
from carbide_dpf.sdk import names, objects, services
from carbide_dpf.sdk import validation as v
from carbide_dpf.sdk.config import SdkConfig
from carbide_dpf.sdk.credentials import SecretStr, as_secret, bmc_secret
from carbide_dpf.sdk.deletes import Deleter
from carbide_dpf.sdk.labels import (
    DPUNODE_NAME_LABEL,
    DeviceInfo,
    NodeInfo,
    encode_ip_label,
)
from carbide_dpf.sdk.snapshot import (
    DeleteResult,
    DeviceState,
    DpuState,
    HostSnapshot,
    InitResult,
    NodeState,
    OutdatedDpu,
    ReprovisionTicket,
    condition_true,
    conditions_of,
)

if TYPE_CHECKING:
    from carbide_dpf.watcher import DpuWatcher

__all__ = ["HOLD_ANNOTATION", "REBOOT_REQUIRED_ANNOTATION", "DeploymentMissingError", "DpfSdk"]

log = logging.getLogger(__name__)

HOLD_ANNOTATION = "provisioning.dpu.nvidia.com/wait-for-external-nodeeffect"
REBOOT_REQUIRED_ANNOTATION = "provisioning.dpu.nvidia.com/dpunode-external-reboot-required"
# Label keys under these suffixes belong to the operator; a caller's label there would fight it.
_RESERVED_LABEL_DOMAIN = "dpu.nvidia.com"


class DeploymentMissingError(DpfError):
    """The DPUDeployment does not exist yet."""


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _labels(obj: Mapping[str, Any]) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("labels") or {})


def _annotations(obj: Mapping[str, Any]) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("annotations") or {})


class DpfSdk:
    """The DPF operations, async, for one namespace (`config.namespace`).

    Build it from an open `KubeClient`; the SDK never closes the client.
    """

    def __init__(self, kube: KubeClient, config: SdkConfig | None = None) -> None:
        """Use `kube` for every request and `config` (defaults if None) for names/labels."""
        self._kube = kube
        self._config = config or SdkConfig()
        self._deleter = Deleter(kube, self._config.namespace,
                                (self._config.managed_label_key,
                                 self._config.host_bmc_ip_label))

    @property
    def config(self) -> SdkConfig:
        """The configuration in effect."""
        return self._config

    @property
    def namespace(self) -> str:
        """The namespace every object lives in."""
        return self._config.namespace

    @property
    def kube(self) -> KubeClient:
        """The Kubernetes client the SDK uses."""
        return self._kube

    # -- provisioning -----------------------------------------------------------------------

    async def create_initialization_objects(
        self, bfb_url: str, bmc_password: str | SecretStr,
    ) -> InitResult:
        """Create or update the BMC Secret, the BFB, the DPUFlavor, the services (templates,
        configurations, interfaces) and the DPUDeployment. Safe to repeat."""
        password = as_secret(bmc_password)
        problems = v.check_url("bfb_url", bfb_url)
        if not password:
            problems.append(FieldProblem("bmc_password", "required", "must not be empty"))
        flavor_spec = self._config.resolved_flavor_spec()
        service_set = self._config.resolved_services()
        problems += v.check_flavor_spec("config.flavor_spec", flavor_spec)
        v.raise_if_any(problems + services.check_service_set(service_set))

        bfb = names.bfb_name_for_url(bfb_url)
        flavor = names.flavor_name_for_spec(self._config.flavor_base_name, flavor_spec)
        # All applies run to completion before the first failure is raised (as itself, not
        # as an ExceptionGroup), so a retry starts from a known state.
        outcomes = await asyncio.gather(
            self._apply_bmc_secret(password),
            self._apply_bfb(bfb, bfb_url),
            self._apply_flavor(flavor, flavor_spec),
            self._apply_services(service_set),
            return_exceptions=True,
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

        deployment = objects.deployment_object(self._config, bfb=bfb, flavor=flavor,
                                               services=service_set)
        await self._kube.apply(DPU_DEPLOYMENT, deployment, self.namespace)
        log.info("applied dpudeployment name=%s bfb=%s flavor=%s namespace=%s",
                 self._config.deployment_name, bfb, flavor, self.namespace)
        return InitResult(
            bfb=bfb, flavor=flavor, deployment=self._config.deployment_name,
            services=tuple(s.name for s in service_set.services),
            service_interfaces=tuple(i.name for i in service_set.service_interfaces),
        )

    async def set_bmc_password(self, bmc_password: str | SecretStr) -> None:
        """Create or update the `bmc-shared-password` Secret only."""
        password = as_secret(bmc_password)
        if not password:
            v.raise_if_any([FieldProblem("bmc_password", "required", "must not be empty")])
        await self._apply_bmc_secret(password)

    async def _apply_bmc_secret(self, password: SecretStr) -> None:
        await self._kube.apply(SECRET, bmc_secret(self.namespace, password), self.namespace)
        log.info("applied bmc secret namespace=%s", self.namespace)

    async def _apply_bfb(self, name: str, url: str) -> None:
        await self._kube.apply(BFB, objects.bfb_object(name, url, self.namespace),
                               self.namespace)
        log.info("applied bfb name=%s namespace=%s", name, self.namespace)

    async def _apply_flavor(self, name: str, spec: Mapping[str, Any]) -> None:
        await self._kube.apply(DPU_FLAVOR, objects.flavor_object(name, spec, self.namespace),
                               self.namespace)
        log.info("applied dpuflavor name=%s namespace=%s", name, self.namespace)

    async def _apply_services(self, service_set: services.ServiceSet) -> None:
        ns = self.namespace
        for interface in service_set.service_interfaces:
            await self._kube.apply(DPU_SERVICE_INTERFACE,
                                   services.interface_object(interface, ns), ns)
        for service in service_set.services:
            await self._kube.apply(DPU_SERVICE_TEMPLATE,
                                   services.template_object(service, ns), ns)
            await self._kube.apply(DPU_SERVICE_CONFIGURATION,
                                   services.configuration_object(service, ns), ns)
            log.info("applied dpu service name=%s namespace=%s", service.name, ns)

    async def register_dpu_device(
        self,
        name: str,
        *,
        bmc_ip: str,
        serial_number: str,
        host_bmc_ip: str | None = None,
        bmc_port: int | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> KubeObject:
        """Create or update the DPUDevice `name` (the DPU's BMC at `bmc_ip`, IPv4).

        The host BMC address becomes the label `config.host_bmc_ip_label`, which the operator
        copies onto the DPU (see `labels.host_bmc_ip_from_dpu`).
        """
        problems = v.check_device_name("name", name)
        problems += v.check_ip("bmc_ip", bmc_ip, version=4)
        problems += v.check_serial_number("serial_number", serial_number)
        if host_bmc_ip is not None:
            problems += v.check_ip("host_bmc_ip", host_bmc_ip)
        if bmc_port is not None:
            problems += v.check_port("bmc_port", bmc_port)
        v.raise_if_any(problems)

        info = DeviceInfo(name, bmc_ip, serial_number, host_bmc_ip)
        hooked = self._config.device_labeler(info) if self._config.device_labeler else {}
        ours = {self._config.managed_label_key: self._config.managed_label_value}
        if host_bmc_ip is not None:
            ours[self._config.host_bmc_ip_label] = encode_ip_label(host_bmc_ip)
        merged = self._merge_labels(ours, hooked, labels)

        obj = objects.device_object(name, self.namespace, bmc_ip=bmc_ip,
                                    serial_number=serial_number, bmc_port=bmc_port,
                                    labels=merged)
        result = await self._kube.apply(DPU_DEVICE, obj, self.namespace)
        log.info("registered dpudevice name=%s namespace=%s", name, self.namespace)
        return result

    async def register_dpu_node(
        self,
        name: str,
        device_names: Sequence[str],
        *,
        labels: Mapping[str, str] | None = None,
    ) -> KubeObject:
        """Create or update the DPUNode `name` listing `device_names`, rebooted externally,
        and labelled so that the deployment's DPUSet selects it.

        Take `name` from a stable host identity (`names.node_name_for_host`), never from a
        device name: a host with several DPUs has one node.
        """
        problems = v.check_node_name("name", name)
        if not device_names:
            problems.append(FieldProblem("device_names", "required", "list at least one"))
        if len(set(device_names)) != len(device_names):
            problems.append(FieldProblem("device_names", "unique", "names repeat"))
        for index, device in enumerate(device_names):
            problems += v.check_device_name(f"device_names[{index}]", device)
            problems += v.check_dpu_name(f"device_names[{index}]", name, device)
        v.raise_if_any(problems)

        info = NodeInfo(name, tuple(device_names))
        hooked = self._config.node_labeler(info) if self._config.node_labeler else {}
        ours = {self._config.managed_label_key: self._config.managed_label_value}
        merged = self._merge_labels(ours, hooked, labels)

        obj = objects.node_object(name, self.namespace, device_names=device_names,
                                  labels=merged)
        result = await self._kube.apply(DPU_NODE, obj, self.namespace)
        log.info("registered dpunode name=%s devices=%s namespace=%s",
                 name, ",".join(device_names), self.namespace)
        return result

    def _merge_labels(self, ours: Mapping[str, str], hooked: Mapping[str, str],
                      extra: Mapping[str, str] | None) -> dict[str, str]:
        """Merge hook and caller labels under ours; reject reserved and invalid keys."""
        reserved = {self._config.managed_label_key, self._config.host_bmc_ip_label}
        problems: list[FieldProblem] = []
        for source, given in (("labeler", hooked), ("labels", extra or {})):
            problems += v.check_labels(source, given)
            for key in given:
                prefix = key.rpartition("/")[0]
                if key in reserved or prefix.endswith(_RESERVED_LABEL_DOMAIN):
                    problems.append(FieldProblem(f"{source}[{key}]", "reserved-label",
                                                 f"{key!r} is set by the SDK or the operator"))
        v.raise_if_any(problems)
        return {**hooked, **(extra or {}), **ours}

    async def release_maintenance_hold(self, node_name: str) -> bool:
        """Let the operator proceed on `node_name`: set the hold's wait annotation to "false".

        Returns False when there is no hold (not created yet, or already finished).
        """
        v.raise_if_any(v.check_node_name("node_name", node_name))
        hold = names.hold_name(node_name)
        patch = {"metadata": {"annotations": {HOLD_ANNOTATION: "false"}}}
        try:
            await self._kube.merge_patch(DPU_NODE_MAINTENANCE, hold, patch, self.namespace)
        except NotFoundError:
            log.debug("no hold to release dpunodemaintenance=%s namespace=%s",
                      hold, self.namespace)
            return False
        log.info("released hold dpunode=%s namespace=%s", node_name, self.namespace)
        return True

    async def is_reboot_required(self, node_name: str) -> bool:
        """Whether the operator asks for an external reboot of the host of `node_name`."""
        v.raise_if_any(v.check_node_name("node_name", node_name))
        node = await self._kube.get(DPU_NODE, node_name, self.namespace)
        return REBOOT_REQUIRED_ANNOTATION in _annotations(node)

    async def reboot_complete(self, node_name: str) -> None:
        """Tell the operator the host was power-cycled: remove the reboot-required key.

        A merge patch with null removes the key and is a no-op when it is already gone.
        """
        v.raise_if_any(v.check_node_name("node_name", node_name))
        patch = {"metadata": {"annotations": {REBOOT_REQUIRED_ANNOTATION: None}}}
        await self._kube.merge_patch(DPU_NODE, node_name, patch, self.namespace)
        log.info("cleared reboot required dpunode=%s namespace=%s", node_name, self.namespace)

    # -- queries ------------------------------------------------------------------------------

    async def get_dpu_phase(self, dpu_name: str) -> DpuPhase | None:
        """Return the DPU's phase (None before the operator set one); NotFoundError if the
        DPU does not exist."""
        v.raise_if_any(v.check_dns_label("dpu_name", dpu_name, "DPU"))
        dpu = await self._kube.get(DPU, dpu_name, self.namespace)
        phase = (dpu.get("status") or {}).get("phase")
        return DpuPhase(phase) if phase else None

    async def is_dpu_device_ready(self, device_name: str) -> bool:
        """Whether the DPUDevice has condition Ready=True."""
        v.raise_if_any(v.check_device_name("device_name", device_name))
        device = await self._kube.get(DPU_DEVICE, device_name, self.namespace)
        return condition_true(device, "Ready")

    async def snapshot_host(self, node_name: str) -> HostSnapshot:
        """Return the DPUNode `node_name`, its DPUDevices and their DPUs, in one typed view."""
        v.raise_if_any(v.check_node_name("node_name", node_name))
        ns, selector = self.namespace, f"{DPUNODE_NAME_LABEL}={node_name}"
        node, labelled_devices, labelled_dpus = await asyncio.gather(
            self._kube.get_or_none(DPU_NODE, node_name, ns),
            self._kube.list(DPU_DEVICE, ns, label_selector=selector),
            self._kube.list(DPU, ns, label_selector=selector),
        )
        devices = {_name(d): d for d in labelled_devices.items}
        devices.update(await self._get_missing(DPU_DEVICE, _node_device_names(node), devices))
        dpus = {_name(d): d for d in labelled_dpus.items}
        expected = [names.dpu_name(node_name, device) for device in sorted(devices)]
        dpus.update(await self._get_missing(DPU, expected, dpus))
        return self._host_snapshot(node_name, node, devices, dpus)

    async def snapshot_hosts(self, *, host_bmc_ip: str | None = None) -> list[HostSnapshot]:
        """Return every host of the namespace as `snapshot_host` would, sorted by node name.

        Three list requests, however large the fleet. A host is any DPUNode, and any node name
        that DPUDevices or DPUs are still labelled with (a node deleted before its DPUs). With
        `host_bmc_ip`, only the hosts one of whose devices or DPUs carries that host BMC
        address (the label `register_dpu_device` writes).
        """
        wanted: str | None = None
        if host_bmc_ip is not None:
            v.raise_if_any(v.check_ip("host_bmc_ip", host_bmc_ip))
            wanted = encode_ip_label(host_bmc_ip)
        ns = self.namespace
        node_list, device_list, dpu_list = await asyncio.gather(
            self._kube.list(DPU_NODE, ns), self._kube.list(DPU_DEVICE, ns),
            self._kube.list(DPU, ns))

        nodes = {_name(n): n for n in node_list.items}
        all_devices = {_name(d): d for d in device_list.items}
        devices = _group_by_node_label(device_list.items)
        for node_name, node in nodes.items():
            for device in _node_device_names(node):
                if device in all_devices:
                    devices.setdefault(node_name, {})[device] = all_devices[device]
        all_dpus = {_name(d): d for d in dpu_list.items}
        dpus = _group_by_node_label(dpu_list.items)
        for node_name, node_devices in devices.items():
            # As snapshot_host: a DPU is also found by the name the operator gives it.
            for device in node_devices:
                expected = names.dpu_name(node_name, device)
                if expected in all_dpus:
                    dpus.setdefault(node_name, {})[expected] = all_dpus[expected]

        label = self._config.host_bmc_ip_label
        hosts = []
        for node_name in sorted({*nodes, *devices, *dpus}):
            host_devices, host_dpus = devices.get(node_name, {}), dpus.get(node_name, {})
            if wanted is not None and not any(
                    _labels(obj).get(label) == wanted
                    for obj in (*host_devices.values(), *host_dpus.values())):
                continue
            hosts.append(self._host_snapshot(node_name, nodes.get(node_name), host_devices,
                                             host_dpus))
        return hosts

    def _host_snapshot(self, node_name: str, node: KubeObject | None,
                       devices: Mapping[str, KubeObject],
                       dpus: Mapping[str, KubeObject]) -> HostSnapshot:
        listed = _node_device_names(node)
        device_states = [
            DeviceState.from_object(devices[n]) if n in devices else DeviceState(n, exists=False)
            for n in sorted({*devices, *listed})
        ]
        label = self._config.host_bmc_ip_label
        return HostSnapshot(
            node_name=node_name,
            node=_node_state(node) if node else None,
            devices=tuple(device_states),
            dpus=tuple(DpuState.from_object(dpus[n], label) for n in sorted(dpus)),
        )

    async def _get_missing(self, kind: ResourceKind, wanted: Iterable[str],
                           have: Mapping[str, Any]) -> dict[str, KubeObject]:
        missing = [name for name in wanted if name not in have]
        found = await asyncio.gather(
            *(self._kube.get_or_none(kind, name, self.namespace) for name in missing))
        return {name: obj for name, obj in zip(missing, found, strict=True) if obj}

    async def find_outdated_dpus(self) -> list[OutdatedDpu]:
        """Return the DPUs (matching `config.dpu_selector`, not being deleted) whose BFB or
        flavor differs from the DPUDeployment's."""
        deployment = await self._get_deployment()
        wanted = deployment.get("spec", {}).get("dpus", {})
        wanted_bfb, wanted_flavor = wanted.get("bfb", ""), wanted.get("flavor", "")
        dpus = await self._kube.list(DPU, self.namespace,
                                     label_selector=self._config.dpu_selector)
        outdated = []
        for dpu in dpus.items:
            spec = dpu.get("spec") or {}
            if (dpu["metadata"].get("deletionTimestamp")
                    or (spec.get("bfb") == wanted_bfb
                        and spec.get("dpuFlavor") == wanted_flavor)):
                continue
            outdated.append(OutdatedDpu(_name(dpu), spec.get("bfb", ""),
                                        spec.get("dpuFlavor", ""), wanted_bfb, wanted_flavor))
        return sorted(outdated, key=lambda item: item.name)

    async def _get_deployment(self) -> KubeObject:
        name = self._config.deployment_name
        deployment = await self._kube.get_or_none(DPU_DEPLOYMENT, name, self.namespace)
        if deployment is None:
            raise DeploymentMissingError(
                f"DPUDeployment {self.namespace}/{name} does not exist; run "
                "create_initialization_objects first")
        return deployment

    # -- reprovision and update ---------------------------------------------------------------

    async def reprovision_dpu(self, dpu_name: str, *,
                              expected_uid: str | None = None) -> ReprovisionTicket:
        """Delete the DPU so that its DPUSet recreates it from scratch (new uid).

        With `expected_uid` (the uid of the DPU you mean to reprovision) a repeated call is
        safe: when the DPU already has another uid it was replaced since, so nothing is
        deleted and the ticket names the replacement's creation time. Without it every call
        deletes whatever DPU carries the name. Pass the ticket's fields to `wait_for_dpu`.
        """
        problems = v.check_dns_label("dpu_name", dpu_name, "DPU")
        if expected_uid is not None and not expected_uid:
            problems.append(FieldProblem("expected_uid", "required", "must not be empty"))
        v.raise_if_any(problems)
        old = await self._kube.get_or_none(DPU, dpu_name, self.namespace)
        deleted_at = _now()
        if old is None:
            log.info("no dpu to reprovision dpu=%s namespace=%s", dpu_name, self.namespace)
            return ReprovisionTicket(dpu_name, expected_uid, None, deleted_at)

        uid = str(old["metadata"]["uid"])
        if expected_uid is not None and uid != expected_uid:
            log.info("dpu already reprovisioned dpu=%s old_uid=%s uid=%s namespace=%s",
                     dpu_name, expected_uid, uid, self.namespace)
            return ReprovisionTicket(dpu_name, expected_uid, None,
                                     str(old["metadata"].get("creationTimestamp") or deleted_at))
        try:
            # The uid precondition keeps a slow caller from deleting the DPU's successor.
            await self._kube.delete(DPU, dpu_name, self.namespace, uid=uid)
        except (NotFoundError, ConflictError):
            log.debug("dpu already replaced dpu=%s uid=%s", dpu_name, uid)
        log.info("reprovisioning dpu=%s old_uid=%s namespace=%s", dpu_name, uid, self.namespace)
        return ReprovisionTicket(dpu_name, uid, old["metadata"].get("creationTimestamp"),
                                 deleted_at)

    async def wait_for_dpu(
        self,
        dpu_name: str,
        *,
        not_uid: str | None = None,
        created_after: str | datetime | None = None,
        timeout: float = 600.0,  # noqa: ASYNC109 - seconds, as the CLI's --timeout
    ) -> DpuState:
        """Wait until DPU `dpu_name` exists with a uid other than `not_uid`, created at or
        after `created_after` (RFC 3339 or datetime, compared in whole seconds), and not
        being deleted. Raises `FlowTimeoutError` after `timeout` seconds."""
        v.raise_if_any(v.check_dns_label("dpu_name", dpu_name, "DPU"))
        after = _parse_time(created_after) if isinstance(created_after, str) else created_after
        after = after.replace(microsecond=0) if after else None
        try:
            async with asyncio.timeout(timeout):
                return await self._poll_successor(dpu_name, not_uid, after)
        except TimeoutError:
            raise FlowTimeoutError(
                f"DPU {self.namespace}/{dpu_name} was not recreated within {timeout:.0f}s; "
                "check that its DPUNode still carries the managed label and that the "
                "operator runs, then wait again") from None

    async def _poll_successor(self, dpu_name: str, not_uid: str | None,
                              after: datetime | None) -> DpuState:
        while True:
            dpu = await self._kube.get_or_none(DPU, dpu_name, self.namespace)
            if dpu is not None and _is_successor(dpu, not_uid, after):
                return DpuState.from_object(dpu, self._config.host_bmc_ip_label)
            await asyncio.sleep(self._config.poll_interval)

    async def update_deployment_bfb(self, bfb_url: str) -> str:
        """Create the BFB for `bfb_url` if needed and point the DPUDeployment at it; the
        operator then rolls the DPUs. Returns the BFB name."""
        v.raise_if_any(v.check_url("bfb_url", bfb_url))
        await self._get_deployment()

        bfb = names.bfb_name_for_url(bfb_url)
        await self._apply_bfb(bfb, bfb_url)
        patch = {"spec": {"dpus": {"bfb": bfb}}}
        await self._kube.merge_patch(DPU_DEPLOYMENT, self._config.deployment_name, patch,
                                     self.namespace)
        log.info("updated dpudeployment name=%s bfb=%s namespace=%s",
                 self._config.deployment_name, bfb, self.namespace)
        return bfb

    # -- deletes ------------------------------------------------------------------------------

    async def delete_dpu_device(self, name: str) -> DeleteResult:
        """Delete the DPUDevice (the operator then deletes its DPU); gone is fine."""
        v.raise_if_any(v.check_device_name("name", name))
        return await self._deleter.delete(DPU_DEVICE, name)

    async def delete_dpu_node(self, name: str) -> DeleteResult:
        """Delete the DPUNode (the operator then deletes its DPUs); gone is fine."""
        v.raise_if_any(v.check_node_name("name", name))
        return await self._deleter.delete(DPU_NODE, name)

    async def force_delete_dpu(self, dpu_name: str, *,
                               remove_finalizers: bool = False) -> DeleteResult:
        """Remove our labels from the DPU, delete it and, only with `remove_finalizers`,
        strip the finalizers that hold it (the operator's cleanup is then skipped)."""
        v.raise_if_any(v.check_dns_label("dpu_name", dpu_name, "DPU"))
        return await self._deleter.force_delete(DPU, dpu_name, remove_finalizers)

    async def force_delete_dpu_node(self, name: str, *,
                                    remove_finalizers: bool = False) -> DeleteResult:
        """Remove our labels from the DPUNode (its DPUSet lets go of it), delete it and,
        only with `remove_finalizers`, strip its finalizers."""
        v.raise_if_any(v.check_node_name("name", name))
        return await self._deleter.force_delete(DPU_NODE, name, remove_finalizers)

    async def force_delete_host(
        self,
        node_name: str,
        *,
        device_names: Sequence[str] = (),
        remove_finalizers: bool = False,
    ) -> DeleteResult:
        """Delete everything of one host: the node's labels first (so no DPU is recreated),
        then its DPUs, its DPUDevices (listed by the node, labelled with it, or given) and the
        DPUNode. Finalizers are stripped only with `remove_finalizers`."""
        problems = v.check_node_name("node_name", node_name)
        for index, device in enumerate(device_names):
            problems += v.check_device_name(f"device_names[{index}]", device)
        v.raise_if_any(problems)

        ns, selector = self.namespace, f"{DPUNODE_NAME_LABEL}={node_name}"
        node = await self._kube.get_or_none(DPU_NODE, node_name, ns)
        result = DeleteResult()
        if node is not None:
            result.merge(await self._deleter.strip_labels(DPU_NODE, node))
        devices = {*device_names, *_node_device_names(node)}
        devices |= {_name(d) for d in (await self._kube.list(
            DPU_DEVICE, ns, label_selector=selector)).items}
        dpus = {names.dpu_name(node_name, device) for device in devices}
        dpus |= {_name(d) for d in (await self._kube.list(DPU, ns, label_selector=selector)).items}

        for dpu in sorted(dpus):
            result.merge(await self._deleter.force_delete(DPU, dpu, remove_finalizers))
        for device in sorted(devices):
            result.merge(await self._deleter.force_delete(DPU_DEVICE, device, remove_finalizers))
        result.merge(await self._deleter.force_delete(DPU_NODE, node_name, remove_finalizers))
        log.info("force deleted host dpunode=%s deleted=%d already_gone=%d namespace=%s",
                 node_name, len(result.deleted), len(result.already_gone), ns)
        return result

    # -- watcher ------------------------------------------------------------------------------

    def watcher(self, **kwargs: Any) -> DpuWatcher:
        """Return a `carbide_dpf.watcher.DpuWatcher` on this SDK's client and namespace,
        watching the DPUs of `config.dpu_selector`; `kwargs` go to its constructor."""
        from carbide_dpf.watcher import DpuWatcher

        kwargs.setdefault("namespace", self.namespace)
        kwargs.setdefault("label_selector", self._config.dpu_selector)
        kwargs.setdefault("host_bmc_ip_label", self._config.host_bmc_ip_label)
        return DpuWatcher(self._kube, **kwargs)


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def _group_by_node_label(objs: Iterable[KubeObject]) -> dict[str, dict[str, KubeObject]]:
    """Objects by the DPUNode their `dpunode-name` label names, then by their own name."""
    grouped: dict[str, dict[str, KubeObject]] = {}
    for obj in objs:
        node_name = _labels(obj).get(DPUNODE_NAME_LABEL)
        if node_name:
            grouped.setdefault(node_name, {})[_name(obj)] = obj
    return grouped


def _node_device_names(node: Mapping[str, Any] | None) -> list[str]:
    if not node:
        return []
    return [str(d["name"]) for d in (node.get("spec") or {}).get("dpus") or [] if d.get("name")]


def _node_state(node: Mapping[str, Any]) -> NodeState:
    return NodeState(
        name=_name(node),
        device_names=tuple(_node_device_names(node)),
        reboot_required=REBOOT_REQUIRED_ANNOTATION in _annotations(node),
        conditions=conditions_of(node),
        labels=_labels(node),
    )


def _is_successor(dpu: Mapping[str, Any], not_uid: str | None,
                  after: datetime | None) -> bool:
    metadata = dpu.get("metadata") or {}
    if metadata.get("deletionTimestamp") or (not_uid and metadata.get("uid") == not_uid):
        return False
    created = metadata.get("creationTimestamp")
    return after is None or (bool(created) and _parse_time(str(created)) >= after)
