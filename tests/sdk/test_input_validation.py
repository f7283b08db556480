"""Bad input raises one ValidationError naming each offending field, and writes nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from carbide_dpf.errors import ValidationError
from carbide_dpf.kube.client import KubeClient
from carbide_dpf.sdk import DpfSdk, SdkConfig, ServiceSet
from tests.sdk.sdk_helpers import BFB_URL, PASSWORD, everything

Call = Callable[[DpfSdk], Awaitable[Any]]

CASES: list[tuple[str, Call, dict[str, str]]] = [
    ("init-bad-url-and-empty-password",
     lambda s: s.create_initialization_objects("ftp://x/a.bfb", ""),
     {"bfb_url": "url-scheme", "bmc_password": "required"}),
    ("init-url-without-host",
     lambda s: s.create_initialization_objects("https:///a.bfb", PASSWORD),
     {"bfb_url": "url-host"}),
    ("device-every-field",
     lambda s: s.register_dpu_device("d" * 64, bmc_ip="2001:db8::1", serial_number="bad sn",
                                     host_bmc_ip="999.1.1.1", bmc_port=0),
     {"name": "max-length", "bmc_ip": "ipv4-address", "serial_number": "serial-charset",
      "host_bmc_ip": "ip-address", "bmc_port": "port"}),
    ("device-empty-serial",
     lambda s: s.register_dpu_device("dpu0", bmc_ip="10.0.0.1", serial_number=""),
     {"serial_number": "required"}),
    ("device-bad-and-reserved-labels",
     lambda s: s.register_dpu_device(
         "dpu0", bmc_ip="10.0.0.1", serial_number="MT1",
         labels={"bad key": "x", "carbide.nvidia.com/dpf-managed": "false",
                 "provisioning.dpu.nvidia.com/dpunode-name": "n"}),
     {"labels[bad key]": "label-key",
      "labels[carbide.nvidia.com/dpf-managed]": "reserved-label",
      "labels[provisioning.dpu.nvidia.com/dpunode-name]": "reserved-label"}),
    ("node-too-long",
     lambda s: s.register_dpu_node("n" * 49, ["dpu0"]),
     {"name": "max-length"}),
    ("node-dpu-name-too-long",
     lambda s: s.register_dpu_node("n" * 40, ["ok", "d" * 30]),
     {"device_names[1]": "dpu-name-length"}),
    ("node-no-devices", lambda s: s.register_dpu_node("host1", []),
     {"device_names": "required"}),
    ("node-duplicate-devices", lambda s: s.register_dpu_node("host1", ["a", "a"]),
     {"device_names": "unique"}),
    ("node-bad-device-name", lambda s: s.register_dpu_node("host1", ["Bad_Name"]),
     {"device_names[0]": "dns1123-label"}),
    ("hold-bad-node", lambda s: s.release_maintenance_hold("../etc"),
     {"node_name": "dns1123-label"}),
    ("reboot-bad-node", lambda s: s.reboot_complete("x" * 49), {"node_name": "max-length"}),
    ("phase-bad-dpu", lambda s: s.get_dpu_phase("A/B"), {"dpu_name": "dns1123-label"}),
    ("reprovision-bad-dpu", lambda s: s.reprovision_dpu(""), {"dpu_name": "required"}),
    ("update-bad-url", lambda s: s.update_deployment_bfb("not a url"),
     {"bfb_url": "url-scheme"}),
    ("delete-bad-device", lambda s: s.delete_dpu_device("UP"), {"name": "dns1123-label"}),
    ("force-host-bad-names",
     lambda s: s.force_delete_host("h", device_names=["ok", "no_good"]),
     {"device_names[1]": "dns1123-label"}),
]


@pytest.mark.parametrize(("call", "expected"), [(c, e) for _, c, e in CASES],
                         ids=[case[0] for case in CASES])
async def test_bad_input_names_each_field_and_writes_nothing(
        sdk: DpfSdk, kube: KubeClient, namespace: str, call: Call,
        expected: dict[str, str]) -> None:
    with pytest.raises(ValidationError) as caught:
        await call(sdk)

    assert {p.field: p.rule for p in caught.value.problems} == expected
    assert await everything(kube, namespace) == {}


async def test_bad_service_references_stop_initialisation_before_any_write(
        kube: KubeClient, namespace: str) -> None:
    # model_validate checks the schema only; the SDK must still catch the dangling chain.
    services = ServiceSet.model_validate({
        "services": [{"name": "svc", "helmChart": {"repoURL": "https://c.example.com",
                                                   "version": "1"}}],
        "serviceChains": [{"ports": [{"service": "svc", "interface": "nope"}]}],
    })
    sdk = DpfSdk(kube, SdkConfig(namespace=namespace, services=services))

    with pytest.raises(ValidationError) as caught:
        await sdk.create_initialization_objects(BFB_URL, PASSWORD)

    assert caught.value.fields == ["serviceChains[0].ports[0].interface"]
    assert await everything(kube, namespace) == {}


async def test_a_bad_flavor_spec_stops_initialisation_before_any_write(
        kube: KubeClient, namespace: str) -> None:
    flavor = {"bfcfgParameter": ["X=1"], "grub": {"kernelParameters": "not-a-list"}}
    sdk = DpfSdk(kube, SdkConfig(namespace=namespace, flavor_spec=flavor))

    with pytest.raises(ValidationError) as caught:
        await sdk.create_initialization_objects(BFB_URL, PASSWORD)

    assert {p.field: p.rule for p in caught.value.problems} == {
        "config.flavor_spec.bfcfgParameter": "unknown-field",
        "config.flavor_spec.grub.kernelParameters": "list_type",
    }
    assert await everything(kube, namespace) == {}


async def test_a_failing_labeler_hook_writes_nothing(kube: KubeClient, namespace: str) -> None:
    sdk = DpfSdk(kube, SdkConfig(namespace=namespace,
                                 device_labeler=lambda info: {"k": "bad value!"}))

    with pytest.raises(ValidationError) as caught:
        await sdk.register_dpu_device("dpu0", bmc_ip="10.0.0.1", serial_number="MT1")

    assert caught.value.fields == ["labeler[k]"]
    assert await everything(kube, namespace) == {}
