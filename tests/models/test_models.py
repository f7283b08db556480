"""The generated models without a server: construction, round trips, leniency, the registry."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from carbide_dpf.errors import DpfError
from carbide_dpf.models import (
    DPU,
    ZERO_TRUST_CONDITIONS,
    ZERO_TRUST_HAPPY_PATH,
    BfbPhase,
    DpuClusterPhase,
    DPUDevice,
    DPUFlavor,
    DPUNode,
    DpuPhase,
    DpuVolumePhase,
    IsolationClass,
    ModelParseError,
    ObjectMeta,
    Phase,
    ServiceInterface,
    registry,
)
from carbide_dpf.models.dpu_device import DPUDeviceSpec
from carbide_dpf.models.registry import UnknownKindError
from tests.models.model_samples import NEXT, PINNED, load_crds, object_example, storage_schema

PINNED_CRDS = load_crds(PINNED)
NEXT_CRDS = load_crds(NEXT)

DPU_OBJECT: dict[str, Any] = {
    "apiVersion": "provisioning.dpu.nvidia.com/v1alpha1",
    "kind": "DPU",
    "metadata": {"name": "host-1-dev-1", "namespace": "dpf", "uid": "u-1"},
    "spec": {
        "bfb": "bf-3.0",
        "dpuDeviceName": "dev-1",
        "dpuNodeName": "host-1",
        "serialNumber": "MT1",
        "nodeEffect": {"hold": True},
    },
    "status": {"phase": "Pending"},
}


def test_building_a_kind_sets_api_version_and_kind() -> None:
    device = DPUDevice(
        metadata=ObjectMeta(name="x"), spec=DPUDeviceSpec(serial_number="MT1", bmc_ip="10.0.0.1")
    )

    assert device.to_dict() == {
        "apiVersion": "provisioning.dpu.nvidia.com/v1alpha1",
        "kind": "DPUDevice",
        "metadata": {"name": "x"},
        "spec": {"serialNumber": "MT1", "bmcIp": "10.0.0.1"},
    }


def test_unset_fields_with_defaults_are_left_out_but_read_as_the_default() -> None:
    device = DPUDevice(metadata=ObjectMeta(name="x"), spec=DPUDeviceSpec(serial_number="MT1"))

    assert device.spec.bmc_port == 443
    assert "bmcPort" not in device.to_dict()["spec"]


def test_parsing_an_object_without_api_version_still_writes_it() -> None:
    parsed = DPU.from_dict({k: v for k, v in DPU_OBJECT.items() if k not in ("apiVersion", "kind")})

    assert parsed.to_dict()["apiVersion"] == "provisioning.dpu.nvidia.com/v1alpha1"
    assert parsed.to_dict()["kind"] == "DPU"


def test_attributes_are_snake_case_and_the_wire_is_camel_case() -> None:
    parsed = DPU.from_dict(DPU_OBJECT)

    assert parsed.spec.dpu_node_name == "host-1"
    assert parsed.spec.node_effect is not None
    assert parsed.spec.node_effect.hold is True
    assert parsed.to_dict() == DPU_OBJECT


def test_extra_fields_at_every_level_survive_a_round_trip() -> None:
    obj = copy.deepcopy(DPU_OBJECT)
    obj["topLevelNew"] = {"a": [1, {"b": None}]}
    obj["metadata"]["futureMeta"] = "kept"
    obj["spec"]["newSpecField"] = [{"x": 1}]
    obj["spec"]["nodeEffect"]["newKnob"] = {"deep": {"deeper": True}}
    obj["status"]["conditions"] = [
        {
            "type": "Ready",
            "status": "False",
            "reason": "Waiting",
            "message": "",
            "lastTransitionTime": "2025-01-02T03:04:05Z",
            "severity": "Info",
        }
    ]

    assert DPU.from_dict(obj).to_dict() == obj


def test_read_modify_write_keeps_unknown_fields_and_adds_the_change() -> None:
    obj = copy.deepcopy(DPU_OBJECT)
    obj["spec"]["newSpecField"] = "kept"
    parsed = DPU.from_dict(obj)

    parsed.spec.bfb = "bf-3.1"
    parsed.metadata.labels = {"reprovision": "true"}

    out = parsed.to_dict()
    assert out["spec"]["newSpecField"] == "kept"
    assert out["spec"]["bfb"] == "bf-3.1"
    assert out["metadata"]["labels"] == {"reprovision": "true"}


def test_int_or_string_values_keep_their_type() -> None:
    flavor = DPUFlavor.from_dict(
        {
            "metadata": {"name": "f"},
            "spec": {"dpuResources": {"cpu": 4, "memory": "8Gi", "pods": "16"}},
        }
    )

    assert flavor.spec is not None
    assert flavor.spec.dpu_resources == {"cpu": 4, "memory": "8Gi", "pods": "16"}
    assert flavor.to_dict()["spec"]["dpuResources"] == {"cpu": 4, "memory": "8Gi", "pods": "16"}


@pytest.mark.parametrize("phase", ["DPU Config", "Perform ARM Force Restart", "Something New"])
def test_an_unknown_dpu_phase_is_kept_as_is(phase: str) -> None:
    obj = copy.deepcopy(DPU_OBJECT)
    obj["status"]["phase"] = phase

    parsed = DPU.from_dict(obj)

    assert parsed.status is not None
    assert isinstance(parsed.status.phase, DpuPhase)
    assert parsed.status.phase == phase
    assert not parsed.status.phase.is_known
    assert parsed.to_dict() == obj


def test_known_phases_compare_equal_to_their_text() -> None:
    parsed = DPU.from_dict(DPU_OBJECT)

    assert parsed.status is not None
    assert parsed.status.phase == DpuPhase.PENDING
    assert parsed.status.phase.is_known
    assert DpuPhase.NODE_EFFECT == "Node Effect"
    assert repr(DpuPhase.READY) == "DpuPhase('Ready')"


@pytest.mark.parametrize(
    ("kind", "cls"),
    [
        ("DPU", DpuPhase),
        ("BFB", BfbPhase),
        ("DPUCluster", DpuClusterPhase),
        ("DPUVolume", DpuVolumePhase),
    ],
)
def test_phase_constants_are_exactly_the_pinned_crd_enum(kind: str, cls: type[Phase]) -> None:
    phase = storage_schema(PINNED_CRDS[kind])["properties"]["status"]["properties"]["phase"]
    enum = phase.get("enum") or phase["allOf"][0]["enum"]

    assert frozenset(enum) == cls.KNOWN
    constants = {v for k, v in vars(cls).items() if k.isupper() and isinstance(v, cls)}
    assert constants == set(enum)


def test_every_status_phase_enum_of_the_pinned_crds_has_a_phase_class() -> None:
    for kind, crd in PINNED_CRDS.items():
        status = storage_schema(crd)["properties"].get("status", {})
        phase = status.get("properties", {}).get("phase", {})
        if "enum" in phase or "allOf" in phase:
            status_model = registry.model_for(kind).model_fields["status"].annotation
            assert status_model is not None
            assert "Phase" in str(status_model.__args__[0].model_fields["phase"].annotation)


def test_zero_trust_happy_path_runs_from_initializing_to_ready() -> None:
    assert ZERO_TRUST_HAPPY_PATH[0] == DpuPhase.INITIALIZING
    assert ZERO_TRUST_HAPPY_PATH[-1] == DpuPhase.READY
    assert len(set(ZERO_TRUST_HAPPY_PATH)) == len(ZERO_TRUST_HAPPY_PATH) == 11
    assert all(phase.is_known for phase in ZERO_TRUST_HAPPY_PATH)
    assert list(ZERO_TRUST_CONDITIONS) == list(ZERO_TRUST_HAPPY_PATH)
    assert ZERO_TRUST_CONDITIONS[DpuPhase.OS_INSTALLING] == ("BFBTransferred", "OSInstalled")


def test_other_enums_the_operator_writes_accept_new_values() -> None:
    obj = copy.deepcopy(DPU_OBJECT)
    obj["status"].update({"dpuInstallInterface": "gRPC", "dpuMode": "super-nic"})
    interface = {"metadata": {"name": "p"}, "spec": {"interfaceType": "patch"}}

    assert DPU.from_dict(obj).to_dict() == obj
    assert ServiceInterface.from_dict(interface).spec.interface_type == "patch"


def test_a_field_of_the_wrong_type_raises_a_dpf_error_naming_it() -> None:
    obj = copy.deepcopy(DPU_OBJECT)
    obj["spec"]["dpuNodeName"] = {"not": "a string"}

    with pytest.raises(ModelParseError) as caught:
        DPU.from_dict(obj)

    assert isinstance(caught.value, DpfError)
    assert "spec.dpuNodeName" in str(caught.value)
    assert "dpf/host-1-dev-1" in str(caught.value)


@pytest.mark.parametrize("kind", sorted(PINNED_CRDS))
def test_every_field_of_every_pinned_kind_round_trips(kind: str) -> None:
    obj = object_example(PINNED_CRDS[kind], "full", full=True)

    assert registry.model_for(kind).from_dict(obj).to_dict() == obj


def test_a_dpu_of_dpf_v26_parses_and_round_trips_without_loss() -> None:
    obj = object_example(NEXT_CRDS["DPU"], "next", full=True)
    obj["status"]["phase"] = "Perform ARM Force Restart"
    obj["status"]["previousPhase"] = "DPU Config"
    assert "agentStatus" in obj["status"]  # new in v26: kept as an unknown field

    parsed = DPU.from_dict(obj)

    assert parsed.status is not None
    assert parsed.status.phase == "Perform ARM Force Restart"
    assert parsed.status.model_extra is not None
    assert parsed.status.model_extra["previousPhase"] == "DPU Config"
    assert parsed.to_dict() == obj


@pytest.mark.parametrize("kind", sorted(set(NEXT_CRDS) & set(PINNED_CRDS)))
def test_every_kind_of_dpf_v26_round_trips_through_the_pinned_models(kind: str) -> None:
    obj = object_example(NEXT_CRDS[kind], "next", full=True)

    assert registry.model_for(kind).from_dict(obj).to_dict() == obj


def test_registry_constants_match_the_crds() -> None:
    for kind in registry.ALL_KINDS:
        crd = PINNED_CRDS[kind.kind]
        assert kind.group == crd["spec"]["group"]
        assert kind.plural == crd["spec"]["names"]["plural"]
        assert kind.namespaced == (crd["spec"]["scope"] == "Namespaced")
        assert registry.MODELS[kind.kind].resource == kind

    assert DPU.resource == registry.DPU
    assert (
        registry.DPU_NODE.path("ns", "n")
        == "/apis/provisioning.dpu.nvidia.com/v1alpha1/namespaces/ns/dpunodes/n"
    )
    assert not registry.ISOLATION_CLASS.namespaced
    assert IsolationClass.resource is registry.ISOLATION_CLASS
    assert not registry.DPU_FLAVOR.has_status
    assert registry.DPU_NODE_MAINTENANCE.plural == "dpunodemaintenances"


@pytest.mark.parametrize(
    "name", ["DPUNode", "dpunode", "dpunodes", "dpunodes.provisioning.dpu.nvidia.com"]
)
def test_kind_by_name_accepts_kind_singular_and_plural(name: str) -> None:
    assert registry.kind_by_name(name) is registry.DPU_NODE
    assert registry.model_for(name) is DPUNode


def test_an_unknown_kind_name_raises_a_dpf_error_listing_the_kinds() -> None:
    with pytest.raises(UnknownKindError) as caught:
        registry.kind_by_name("DPUToaster")

    assert isinstance(caught.value, DpfError)
    assert isinstance(caught.value, LookupError)
    assert "DPUDevice" in str(caught.value)
