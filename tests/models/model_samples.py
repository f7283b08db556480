"""Example objects built from a CRD schema: every field filled in, or only the required ones.

The values are placeholders of the right type (the first enum value, "x", 1, True, one list
item, one map entry); validation rules beyond the type are not honoured, so a caller that
sends an example to the API server supplies the values those rules need.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

SHARED_CRDS = Path(__file__).resolve().parents[2].parent / "shared" / "dpf-crds"
PINNED = SHARED_CRDS / "v25.10.1"
NEXT = SHARED_CRDS / "v26.4.0-rc.3"

CONDITION = {
    "type": "Ready",
    "status": "False",
    "reason": "Pending",
    "message": "waiting",
    "lastTransitionTime": "2025-01-02T03:04:05Z",
    "observedGeneration": 1,
}


def load_crds(directory: Path) -> dict[str, dict[str, Any]]:
    """Return every CRD manifest of a directory, by kind."""
    loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    crds = {}
    for path in sorted(directory.glob("*.yaml")):
        crd = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
        crds[crd["spec"]["names"]["kind"]] = crd
    return crds


def storage_schema(crd: Mapping[str, Any]) -> dict[str, Any]:
    """Return the openAPIV3Schema of the CRD's storage version."""
    version = next(v for v in crd["spec"]["versions"] if v.get("storage"))
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


def api_version(crd: Mapping[str, Any]) -> str:
    """Return the apiVersion of the CRD's storage version."""
    version = next(v for v in crd["spec"]["versions"] if v.get("storage"))
    return f"{crd['spec']['group']}/{version['name']}"


def example(schema: Mapping[str, Any], *, full: bool, path: str = "") -> Any:
    """Return a value the schema's types accept; with `full`, every optional field too."""
    if schema.get("x-kubernetes-int-or-string"):
        return 1
    if path == ".status.conditions[]":
        return copy.deepcopy(CONDITION)

    enum = schema.get("enum") or [v for m in schema.get("allOf", ()) for v in m.get("enum", ())]
    if enum:
        return enum[0]
    kind = schema.get("type")
    if kind == "object":
        return _object_example(schema, full=full, path=path)
    if kind == "array":
        wanted = full or schema.get("minItems", 0) > 0
        return [example(schema["items"], full=full, path=f"{path}[]")] if wanted else []
    return _scalar_example(schema)


def _object_example(schema: Mapping[str, Any], *, full: bool, path: str) -> dict[str, Any]:
    """Return an example object: its properties, else one map entry."""
    properties: Mapping[str, Any] = schema.get("properties") or {}
    if properties:
        required = set(schema.get("required", ()))
        return {
            name: example(child, full=full, path=f"{path}.{name}")
            for name, child in properties.items()
            if full or name in required
        }

    additional = schema.get("additionalProperties")
    if isinstance(additional, Mapping) and full:
        return {"k": example(additional, full=full, path=f"{path}{{}}")}
    return {"k": "v"} if full else {}


def _scalar_example(schema: Mapping[str, Any]) -> Any:
    """Return an example string, integer, number or boolean."""
    kind = schema.get("type")
    if kind == "integer":
        return max(1, schema.get("minimum", 1))
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return True
    if schema.get("format") == "date-time":
        return "2025-01-02T03:04:05Z"
    return "x"


def object_example(crd: Mapping[str, Any], name: str, *, full: bool) -> dict[str, Any]:
    """Return an example object of the CRD's kind, with apiVersion, kind and metadata."""
    schema = storage_schema(crd)
    body = example(schema, full=full)
    body.pop("metadata", None)
    spec = schema["properties"].get("spec", {})
    if spec.get("required") and "spec" not in body:
        # The models require a spec that has required fields (the CRDs leave it optional).
        body["spec"] = example(spec, full=full, path=".spec")
    return {
        "apiVersion": api_version(crd),
        "kind": crd["spec"]["names"]["kind"],
        "metadata": {"name": name},
        **{key: value for key, value in body.items() if key not in ("apiVersion", "kind")},
    }
