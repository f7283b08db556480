"""The client against a real kube-apiserver with the v25.10.1 DPF CRDs installed.

Schema and CEL rules are enforced by the API server only, so these tests prove the loop is
real: what the CRDs reject comes back as a typed error that names the field.
"""

from __future__ import annotations

from typing import Any

import pytest

from carbide_dpf.kube.client import KubeClient
from carbide_dpf.kube.config import ClusterConfig
from carbide_dpf.kube.errors import ForbiddenError, InvalidError, UnauthorizedError
from carbide_dpf.kube.resource import NAMESPACE, ResourceKind
from carbide_dpf.sandbox.controlplane import ControlPlane

# Spelled out here rather than taken from the generated registry so this test checks the
# CRDs themselves, whatever the generator does.
_GROUP = "provisioning.dpu.nvidia.com"
DPU_DEVICE = ResourceKind(_GROUP, "v1alpha1", "DPUDevice", "dpudevices")
DPU_NODE = ResourceKind(_GROUP, "v1alpha1", "DPUNode", "dpunodes")
DPU_SET = ResourceKind(_GROUP, "v1alpha1", "DPUSet", "dpusets")


def _dpu_device(name: str, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {"rack": "r1"}}, "spec": spec}


async def test_created_dpudevice_reads_back_equal(kube: KubeClient, namespace: str) -> None:
    device = _dpu_device("dpu-0", serialNumber="MT2306XZ00AB", pf0Name="ens1f0np0")

    created = await kube.create(DPU_DEVICE, device, namespace)
    read = await kube.get(DPU_DEVICE, "dpu-0", namespace)

    assert read == created
    assert read["spec"]["serialNumber"] == "MT2306XZ00AB"
    assert read["spec"]["pf0Name"] == "ens1f0np0"
    assert read["metadata"]["labels"] == {"rack": "r1"}
    assert read["metadata"]["namespace"] == namespace
    assert read["apiVersion"] == f"{_GROUP}/v1alpha1"


async def test_dpudevice_without_serial_number_is_invalid(
    kube: KubeClient, namespace: str
) -> None:
    with pytest.raises(InvalidError) as caught:
        await kube.create(DPU_DEVICE, _dpu_device("dpu-no-serial"), namespace)

    assert "spec.serialNumber" in caught.value.fields
    assert await kube.get_or_none(DPU_DEVICE, "dpu-no-serial", namespace) is None


async def test_dpunode_name_over_48_chars_is_rejected_by_cel(
    kube: KubeClient, namespace: str
) -> None:
    name = "n" * 49
    node = {"metadata": {"name": name}, "spec": {}}

    with pytest.raises(InvalidError) as caught:
        await kube.create(DPU_NODE, node, namespace)

    messages = [cause.message for cause in caught.value.causes]
    assert any("48 chars" in message for message in messages), messages


async def test_dpunode_name_of_48_chars_is_accepted(kube: KubeClient, namespace: str) -> None:
    name = "n" * 48

    created = await kube.create(DPU_NODE, {"metadata": {"name": name}, "spec": {}}, namespace)

    assert created["metadata"]["name"] == name


async def test_dpuset_with_two_node_effects_is_rejected_by_cel(
    kube: KubeClient, namespace: str
) -> None:
    template_spec = {"dpuFlavor": "flavor", "nodeEffect": {"drain": True, "hold": True}}
    dpu_set = {"metadata": {"name": "set"}, "spec": {"dpuTemplate": {"spec": template_spec}}}

    with pytest.raises(InvalidError) as caught:
        await kube.create(DPU_SET, dpu_set, namespace)

    assert caught.value.fields == ["spec.dpuTemplate.spec.nodeEffect"]
    assert "only one of" in caught.value.causes[0].message


async def test_client_without_credentials_is_refused(control_plane: ControlPlane) -> None:
    async with KubeClient.from_kubeconfig(control_plane.anonymous_kubeconfig()) as anonymous:
        with pytest.raises((ForbiddenError, UnauthorizedError)) as caught:
            await anonymous.list(DPU_DEVICE, "default")

    assert "system:anonymous" in str(caught.value)


async def test_client_with_unknown_token_is_unauthorized(control_plane: ControlPlane) -> None:
    config = ClusterConfig(
        server=control_plane.server, ca_data=control_plane.ca_cert_pem, token="not-a-token"
    )

    async with KubeClient(config) as stranger:
        with pytest.raises(UnauthorizedError):
            await stranger.list(NAMESPACE)
