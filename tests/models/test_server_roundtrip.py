"""Every generated kind against the real API server: create, read back, parse, re-serialise.

The server's answer is the reference: parsing it and calling `to_dict()` must give the very
same dict, with everything the server set (uid, managedFields, defaults) kept as it was.
"""

from __future__ import annotations

from typing import Any

import pytest

from carbide_dpf.kube.client import KubeClient
from carbide_dpf.models import (
    BFB,
    DPU,
    Condition,
    DPUDeployment,
    DPUDevice,
    DPUFlavor,
    DPUNode,
    DpuPhase,
    KubeResource,
    ObjectMeta,
    registry,
)
from carbide_dpf.models.bfb import BFBSpec
from carbide_dpf.models.dpu import DPUSpec, DPUSpecNodeEffect, DPUStatus
from carbide_dpf.models.dpu_deployment import (
    DPUDeploymentSpec,
    DPUDeploymentSpecDpus,
    DPUDeploymentSpecDpusDpuSet,
    DPUDeploymentSpecDpusDpuSetNodeSelector,
    DPUDeploymentSpecDpusNodeEffect,
    DPUDeploymentSpecServices,
)
from carbide_dpf.models.dpu_device import DPUDeviceSpec
from carbide_dpf.models.dpu_flavor import DPUFlavorSpec
from carbide_dpf.models.dpu_node import DPUNodeSpec, DPUNodeSpecDpu, DPUNodeSpecNodeRebootMethod
from tests.models.model_samples import PINNED, load_crds, object_example

PINNED_CRDS = load_crds(PINNED)

_VLAN = {"vlan": {"parentInterfaceRef": "p0", "vlanID": 10}}
_PORTS = {"switches": [{"ports": [{"serviceInterface": {"matchLabels": {"port": "p0"}}}]}]}
_HELM = {"helmChart": {"source": {"repoURL": "https://charts.example.com", "chart": "c"}}}

# Values the API server's validation rules (patterns, CEL) need beyond the schema's types;
# merged into the minimal example (lists element by element).
VALID_FIELDS: dict[str, dict[str, Any]] = {
    "BFB": {"spec": {"url": "https://example.com/bf.bfb"}},
    "DPUCluster": {"spec": {"type": "static"}},
    "DPUDeployment": {
        "spec": {"services": {"svc": {"serviceTemplate": "t", "serviceConfiguration": "c"}}}
    },
    "DPUDiscovery": {
        "spec": {"ipRangeSpec": {"ipRange": {"startIP": "10.0.0.1", "endIP": "10.0.0.9"}}}
    },
    "DPUService": {"spec": _HELM},
    "DPUServiceChain": {"spec": {"template": {"spec": {"template": {"spec": _PORTS}}}}},
    "DPUServiceInterface": {"spec": {"template": {"spec": {"template": {"spec": _VLAN}}}}},
    "DPUServiceTemplate": {"spec": _HELM},
    "DPUVirtualNetwork": {"spec": {"bridgedNetwork": {}}},
    "DPUVolume": {
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    },
    "ServiceChain": {"spec": _PORTS},
    "ServiceChainSet": {"spec": {"template": {"spec": _PORTS}}},
    "ServiceInterface": {"spec": _VLAN},
    "ServiceInterfaceSet": {"spec": {"template": {"spec": _VLAN}}},
}


def _merge(target: Any, extra: Any) -> Any:
    """Return `target` with `extra` merged in: maps by key, lists by position."""
    if isinstance(target, dict) and isinstance(extra, dict):
        return {**target, **{k: _merge(target.get(k), v) for k, v in extra.items()}}
    if isinstance(target, list) and isinstance(extra, list):
        merged = [_merge(t, e) for t, e in zip(target, extra, strict=False)]
        return merged + target[len(extra) :] + extra[len(target) :]
    return extra


async def _create_and_read(kube: KubeClient, model: KubeResource, namespace: str) -> dict[str, Any]:
    """Create the object from its model, then return what a fresh GET gives."""
    resource = type(model).resource
    created = await kube.create(resource, model, namespace)
    return await kube.get(resource, created["metadata"]["name"], namespace)


def _assert_round_trip(cls: type[KubeResource], served: dict[str, Any]) -> None:
    """Parsing the server's object and serialising it again gives it back unchanged."""
    parsed = cls.from_dict(served)
    assert parsed.to_dict() == served
    assert parsed.metadata.uid == served["metadata"]["uid"]


def test_every_pinned_kind_has_a_model() -> None:
    assert sorted(kind.kind for kind in registry.ALL_KINDS) == sorted(PINNED_CRDS)
    assert len(registry.ALL_KINDS) == 30


@pytest.mark.parametrize("kind", sorted(PINNED_CRDS))
async def test_minimal_object_of_every_kind_round_trips_through_the_server(
    kube: KubeClient, namespace: str, kind: str
) -> None:
    cls = registry.model_for(kind)
    body = object_example(PINNED_CRDS[kind], f"min-{kind.lower()}", full=False)
    body.pop("status", None)
    body = _merge(body, VALID_FIELDS.get(kind, {}))
    model = cls.from_dict(body)
    assert model.to_dict() == body

    served = await _create_and_read(kube, model, namespace)

    assert served["kind"] == kind
    _assert_round_trip(cls, served)


async def test_typed_dpudevice_round_trips_with_server_defaults(
    kube: KubeClient, namespace: str
) -> None:
    device = DPUDevice(
        metadata=ObjectMeta(name="dev-1", labels={"carbide.nvidia.com/host-bmc-ip": "10.0.0.9"}),
        spec=DPUDeviceSpec(serial_number="MT2306XZ0001", bmc_ip="10.0.0.10"),
    )

    served = await _create_and_read(kube, device, namespace)

    parsed = DPUDevice.from_dict(served)
    assert parsed.spec.bmc_port == 443  # a default the server filled in
    assert served["spec"]["bmcPort"] == 443
    assert parsed.metadata.labels == {"carbide.nvidia.com/host-bmc-ip": "10.0.0.9"}
    _assert_round_trip(DPUDevice, served)


async def test_typed_dpunode_with_external_reboot_round_trips(
    kube: KubeClient, namespace: str
) -> None:
    node = DPUNode(
        metadata=ObjectMeta(name="host-1"),
        spec=DPUNodeSpec(
            dpus=[DPUNodeSpecDpu(name="dev-1"), DPUNodeSpecDpu(name="dev-2")],
            node_reboot_method=DPUNodeSpecNodeRebootMethod(external={}),
        ),
    )

    served = await _create_and_read(kube, node, namespace)

    assert served["spec"]["nodeRebootMethod"] == {"external": {}}
    parsed = DPUNode.from_dict(served)
    assert parsed.spec is not None
    assert [dpu.name for dpu in parsed.spec.dpus or []] == ["dev-1", "dev-2"]
    _assert_round_trip(DPUNode, served)


async def test_typed_bfb_flavor_and_deployment_round_trip(kube: KubeClient, namespace: str) -> None:
    bfb = BFB(metadata=ObjectMeta(name="bf-3.0"), spec=BFBSpec(url="https://example.com/b.bfb"))
    flavor = DPUFlavor(
        metadata=ObjectMeta(name="flavor"),
        spec=DPUFlavorSpec(bfcfg_parameters=["UPDATE_ATF_UEFI=yes"], dpu_resources={"cpu": 4}),
    )
    deployment = DPUDeployment(
        metadata=ObjectMeta(name="carbide"),
        spec=DPUDeploymentSpec(
            dpus=DPUDeploymentSpecDpus(
                bfb="bf-3.0",
                flavor="flavor",
                node_effect=DPUDeploymentSpecDpusNodeEffect(hold=True),
                dpu_sets=[
                    DPUDeploymentSpecDpusDpuSet(
                        name_suffix="all",
                        node_selector=DPUDeploymentSpecDpusDpuSetNodeSelector(
                            match_labels={"feature.node.kubernetes.io/dpu-enabled": "true"}
                        ),
                    )
                ],
            ),
            services={
                "dts": DPUDeploymentSpecServices(
                    service_template="dts", service_configuration="dts"
                )
            },
        ),
    )

    for model in (bfb, flavor, deployment):
        served = await _create_and_read(kube, model, namespace)
        _assert_round_trip(type(model), served)

    assert served["spec"]["dpus"]["nodeEffect"] == {"hold": True, "force": False}
    assert served["spec"]["revisionHistoryLimit"] == 10


async def test_dpu_status_written_through_the_subresource_round_trips(
    kube: KubeClient, namespace: str
) -> None:
    dpu = DPU(
        metadata=ObjectMeta(name="host-1-dev-1"),
        spec=DPUSpec(
            bfb="bf-3.0",
            dpu_device_name="dev-1",
            dpu_node_name="host-1",
            serial_number="MT2306XZ0001",
            node_effect=DPUSpecNodeEffect(hold=True),
        ),
    )
    created = DPU.from_dict(await kube.create(registry.DPU, dpu, namespace))
    created.status = DPUStatus(
        phase=DpuPhase.OS_INSTALLING,
        conditions=[
            Condition(
                type="BFBTransferred",
                status="True",
                reason="Transferred",
                message="",
                last_transition_time="2025-01-02T03:04:05Z",
            )
        ],
    )

    await kube.replace(registry.DPU, created, namespace, subresource="status")
    served = await kube.get(registry.DPU, "host-1-dev-1", namespace)

    parsed = DPU.from_dict(served)
    assert parsed.status is not None
    assert parsed.status.phase == DpuPhase.OS_INSTALLING
    assert isinstance(parsed.status.phase, DpuPhase)
    assert parsed.status.conditions is not None
    assert parsed.status.conditions[0].is_true
    _assert_round_trip(DPU, served)
