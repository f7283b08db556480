# Hand-written (not generated): the base classes and shared Kubernetes types of the models.
"""The base classes and the shared Kubernetes types every generated DPF model uses.

`scripts/generate_models.py` writes one module per DPF kind on top of these:

- `KubeModel`, the base of every generated class: unknown fields are kept (an object written
  by a newer operator survives a read-modify-write), python attributes are snake_case and the
  API's camelCase names are the aliases, `to_dict()` serialises by alias and leaves out what
  was never set;
- `KubeResource`, the base of the top-level kind classes (`DPU`, `DPUDevice`, ...), which sets
  `apiVersion` and `kind` by itself;
- `ObjectMeta`, `OwnerReference`, `Condition` and `IntOrString`, which the generator puts in
  place of the copies each CRD carries, so every kind shares one type.

Timestamps are kept as the strings the API server wrote: parsing them into datetimes would
change their text on the way back and break the byte-for-byte round trip.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Self, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic import ValidationError as PydanticValidationError

from carbide_dpf.kube.errors import KubeError
from carbide_dpf.kube.resource import ResourceKind

__all__ = [
    "Condition",
    "IntOrString",
    "KubeModel",
    "KubeResource",
    "ModelParseError",
    "ObjectMeta",
    "OwnerReference",
]

IntOrString: TypeAlias = int | str
"""A Kubernetes `x-kubernetes-int-or-string` value: `8080` or `"50%"`, kept as written."""


class ModelParseError(KubeError, ValueError):
    """An object does not fit its model: a field has the wrong type or a required one is missing.

    Values and fields the models do not know never cause this (they are kept); a wrong type
    usually means the object was written against CRDs incompatible with the pinned release.
    """

    def __init__(self, model: str, where: str, error: PydanticValidationError) -> None:
        problems = error.errors(include_url=False)
        first = problems[0] if problems else {"loc": (), "msg": str(error)}
        field = ".".join(str(part) for part in first["loc"]) or "(object)"
        super().__init__(
            f"cannot parse {model} {where}: {len(problems)} field(s) do not fit the model, "
            f"first {field}: {first['msg']}; check that the cluster runs the DPF release "
            "the models were generated from, or regenerate them from its CRDs"
        )
        self.model = model
        self.problems = problems


class KubeModel(BaseModel):
    """Base of every model: keeps unknown fields, speaks the API's field names on the wire."""

    model_config = ConfigDict(
        extra="allow",
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )

    def to_dict(self) -> dict[str, Any]:
        """Return the object as the API spells it, without the fields that were never set.

        Unknown fields read from the server are part of the result, so writing it back loses
        nothing a newer operator added.
        """
        return self.model_dump(by_alias=True, exclude_unset=True, mode="json")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Parse an object as the API server returns it (camelCase keys).

        Raises ModelParseError (a DpfError) when a field does not fit the model.
        """
        try:
            return cls.model_validate(data)
        except PydanticValidationError as exc:
            raise ModelParseError(cls.__name__, _describe(data), exc) from exc


def _describe(data: Mapping[str, Any]) -> str:
    """Name an object for an error message: namespace/name when it has them."""
    metadata = data.get("metadata")
    if not isinstance(metadata, Mapping):
        return "object"
    namespace, name = metadata.get("namespace"), metadata.get("name")
    return f"{namespace}/{name}" if namespace else str(name or "object")


class OwnerReference(KubeModel):
    """One entry of `metadata.ownerReferences`."""

    api_version: str = Field(alias="apiVersion")
    kind: str
    name: str
    uid: str
    controller: bool | None = None
    block_owner_deletion: bool | None = Field(default=None, alias="blockOwnerDeletion")


class ObjectMeta(KubeModel):
    """The `metadata` of every object; fields the API server adds later are kept as extras."""

    name: str | None = None
    generate_name: str | None = Field(default=None, alias="generateName")
    namespace: str | None = None
    uid: str | None = None
    resource_version: str | None = Field(default=None, alias="resourceVersion")
    generation: int | None = None
    creation_timestamp: str | None = Field(default=None, alias="creationTimestamp")
    deletion_timestamp: str | None = Field(default=None, alias="deletionTimestamp")
    deletion_grace_period_seconds: int | None = Field(
        default=None, alias="deletionGracePeriodSeconds"
    )
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    finalizers: list[str] | None = None
    owner_references: list[OwnerReference] | None = Field(default=None, alias="ownerReferences")
    managed_fields: list[dict[str, Any]] | None = Field(default=None, alias="managedFields")


class Condition(KubeModel):
    """One entry of a `status.conditions` list (the shape of `metav1.Condition`).

    `status` is "True", "False" or "Unknown"; it is a plain string so that a value this release
    does not know is kept rather than refused.
    """

    type: str
    status: str
    reason: str
    message: str
    last_transition_time: str = Field(alias="lastTransitionTime")
    observed_generation: int | None = Field(default=None, alias="observedGeneration")

    @property
    def is_true(self) -> bool:
        """Whether the condition's status is "True"."""
        return self.status == "True"


class KubeResource(KubeModel):
    """Base of the top-level kind classes.

    Each subclass declares `api_version` and `kind` with its own defaults and the
    `resource: ClassVar[ResourceKind]` that says where objects of the kind live. Both fields
    count as set even when left to their defaults, so `to_dict()` always writes them.
    """

    resource: ClassVar[ResourceKind]

    api_version: str = Field(alias="apiVersion")
    kind: str
    metadata: ObjectMeta

    @model_validator(mode="after")
    def _type_fields_count_as_set(self) -> Self:
        """Mark apiVersion and kind as set: the API needs them in every request body."""
        self.model_fields_set.update(("api_version", "kind"))
        return self
