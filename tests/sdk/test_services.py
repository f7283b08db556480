"""Service definitions: loading, validation with field paths, registry overrides."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from carbide_dpf.errors import ConfigError, ValidationError
from carbide_dpf.sdk import defaults, services
from carbide_dpf.sdk.services import RegistryOverrides, load_services, parse_services


def _service(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "svc",
        "helmChart": {"repoURL": "https://charts.example.com/x", "chart": "c",
                      "version": "1.0.0"},
        "interfaces": [{"name": "if0", "network": "net"}],
    }
    base.update(overrides)
    return base


def _fields(error: pytest.ExceptionInfo[ValidationError]) -> list[str]:
    return error.value.fields


def test_yaml_file_is_loaded(tmp_path: Path) -> None:
    path = tmp_path / "services.yaml"
    path.write_text(
        "services:\n"
        "  - name: svc\n"
        "    helmChart: {repoURL: 'oci://registry.example.com/c', version: '1'}\n")
    loaded = load_services(path)
    assert loaded.services[0].helm_chart.repo_url == "oci://registry.example.com/c"


def test_json_file_with_a_bare_list_is_loaded(tmp_path: Path) -> None:
    path = tmp_path / "services.json"
    path.write_text(json.dumps([_service()]))
    assert load_services(path).services[0].name == "svc"


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="services file"):
        load_services(tmp_path / "nope.yaml")


def test_syntax_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("services: [\n")
    with pytest.raises(ValidationError) as caught:
        load_services(path)
    assert caught.value.problems[0].rule == "syntax"
    assert caught.value.fields == [str(path)]


def test_schema_errors_name_the_field_path() -> None:
    bad = _service(helmChart={"repoURL": "http://insecure.example.com", "version": ""})
    with pytest.raises(ValidationError) as caught:
        parse_services({"services": [bad]})
    assert set(_fields(caught)) == {"services[0].helmChart.repoURL",
                                    "services[0].helmChart.version"}


def test_unknown_fields_are_rejected_with_their_path() -> None:
    with pytest.raises(ValidationError) as caught:
        parse_services({"services": [_service(helmchart={})]})
    assert "services[0].helmchart" in _fields(caught)


def test_service_name_longer_than_28_is_rejected() -> None:
    with pytest.raises(ValidationError) as caught:
        parse_services([_service(name="s" * 29)])
    assert _fields(caught) == ["services[0].name"]


def test_empty_service_list_is_rejected() -> None:
    with pytest.raises(ValidationError) as caught:
        parse_services({"services": []})
    assert _fields(caught) == ["services"]


def test_chain_references_are_checked() -> None:
    data = {
        "services": [_service(dependsOn=["missing"])],
        "serviceChains": [{"ports": [
            {"service": "svc", "interface": "nope"},
            {"service": "other", "interface": "if0"},
            {"matchLabels": {"bad key": "x"}},
            {"service": "svc", "interface": "if0", "matchLabels": {"a": "b"}},
        ]}],
    }
    with pytest.raises(ValidationError) as caught:
        parse_services(data)
    assert _fields(caught) == [
        "services[0].dependsOn[0]",
        "serviceChains[0].ports[0].interface",
        "serviceChains[0].ports[1].service",
        "serviceChains[0].ports[2].matchLabels[bad key]",
        "serviceChains[0].ports[3]",
    ]


def test_duplicate_service_names_are_rejected() -> None:
    with pytest.raises(ValidationError) as caught:
        parse_services([_service(), _service()])
    assert caught.value.problems[0].rule == "unique-names"


def test_registry_overrides_rewrite_charts_and_images() -> None:
    overrides = RegistryOverrides(
        helm_repos={"https://helm.ngc.nvidia.com/nvidia/doca": "oci://mirror.local/doca"},
        image_registries={"nvcr.io": "mirror.local/nvcr"},
    )
    rewritten = overrides.apply(defaults.default_services())
    hbn = rewritten.by_name()["doca-hbn"]
    assert hbn.helm_chart.repo_url == "oci://mirror.local/doca"
    assert hbn.values["image"]["repository"] == "mirror.local/nvcr/nvidia/doca/doca_hbn"


def test_registry_override_matches_whole_segments_only() -> None:
    overrides = RegistryOverrides(image_registries={"nvcr.io": "m.local"})
    service_set = parse_services([_service(values={"a": "nvcr.io.evil.com/x", "b": "nvcr.io"})])
    values = overrides.apply(service_set).services[0].values
    assert values == {"a": "nvcr.io.evil.com/x", "b": "m.local"}


def test_default_services_render_objects_the_crds_require() -> None:
    service_set = defaults.default_services()
    hbn = service_set.by_name()["doca-hbn"]
    template = services.template_object(hbn, "ns")
    assert template["spec"]["deploymentServiceName"] == "doca-hbn"
    assert template["spec"]["helmChart"]["source"]["repoURL"].startswith("https://")
    configuration = services.configuration_object(hbn, "ns")
    assert [i["name"] for i in configuration["spec"]["interfaces"]] == [
        "p0_if", "p1_if", "pf0hpf_if"]
    chains = services.deployment_chains(service_set)
    assert chains is not None and len(chains["switches"]) == 3
    interface = services.interface_object(service_set.service_interfaces[0], "ns")
    inner = interface["spec"]["template"]["spec"]["template"]
    assert inner["spec"] == {"interfaceType": "physical", "physical": {"interfaceName": "p0"}}
