# Hand-written (not generated); tests/models check the constants against the pinned CRDs.
"""Phases written by the DPF operator, as strings that also accept phases this release lacks.

A phase is a `str` subclass: it compares equal to its text, serialises as its text, and a value
the pinned release (v25.10.1) does not list, such as v26.4's "DPU Config", parses as-is with
`is_known` False instead of failing. The generated models type `status.phase` with these
classes (see `PHASE_TYPES` in scripts/generate_models.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

__all__ = [
    "ZERO_TRUST_CONDITIONS",
    "ZERO_TRUST_HAPPY_PATH",
    "BfbPhase",
    "DpuClusterPhase",
    "DpuPhase",
    "DpuVolumePhase",
    "Phase",
]


class Phase(str):
    """A phase string; subclasses list the phases the pinned release knows as constants."""

    __slots__ = ()

    KNOWN: ClassVar[frozenset[str]] = frozenset()
    """The phase strings of the pinned release."""

    @property
    def is_known(self) -> bool:
        """Whether the pinned release lists this phase (False for phases of newer operators)."""
        return str(self) in type(self).KNOWN

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        """Validate any string into this class and serialise it back as the plain string."""
        return core_schema.no_info_after_validator_function(
            cls,
            core_schema.str_schema(),
            serialization=core_schema.to_string_ser_schema(),
        )

    @classmethod
    def _define(cls, constants: Mapping[str, str]) -> None:
        """Set the named constants and the known set; called once per subclass below."""
        for name, value in constants.items():
            setattr(cls, name, cls(value))
        cls.KNOWN = frozenset(constants.values())


class DpuPhase(Phase):
    """`DPU.status.phase` (provisioning.dpu.nvidia.com, v25.10.1 enum)."""

    __slots__ = ()

    INITIALIZING: ClassVar[DpuPhase]
    NODE_EFFECT: ClassVar[DpuPhase]
    PENDING: ClassVar[DpuPhase]
    CONFIG_FW_PARAMETERS: ClassVar[DpuPhase]
    PREPARE_BFB: ClassVar[DpuPhase]
    OS_INSTALLING: ClassVar[DpuPhase]
    DPU_CLUSTER_CONFIG: ClassVar[DpuPhase]
    HOST_NETWORK_CONFIGURATION: ClassVar[DpuPhase]
    READY: ClassVar[DpuPhase]
    ERROR: ClassVar[DpuPhase]
    DELETING: ClassVar[DpuPhase]
    REBOOTING: ClassVar[DpuPhase]
    INITIALIZE_INTERFACE: ClassVar[DpuPhase]
    CHECKING_HOST_REBOOT_REQUIRED: ClassVar[DpuPhase]
    NODE_EFFECT_REMOVAL: ClassVar[DpuPhase]


DpuPhase._define(
    {
        "INITIALIZING": "Initializing",
        "NODE_EFFECT": "Node Effect",
        "PENDING": "Pending",
        "CONFIG_FW_PARAMETERS": "Config FW Parameters",
        "PREPARE_BFB": "Prepare BFB",
        "OS_INSTALLING": "OS Installing",
        "DPU_CLUSTER_CONFIG": "DPU Cluster Config",
        "HOST_NETWORK_CONFIGURATION": "Host Network Configuration",
        "READY": "Ready",
        "ERROR": "Error",
        "DELETING": "Deleting",
        "REBOOTING": "Rebooting",
        "INITIALIZE_INTERFACE": "Initialize Interface",
        "CHECKING_HOST_REBOOT_REQUIRED": "Checking Host Reboot Required",
        "NODE_EFFECT_REMOVAL": "Node Effect Removal",
    }
)


class BfbPhase(Phase):
    """`BFB.status.phase` (provisioning.dpu.nvidia.com, v25.10.1 enum)."""

    __slots__ = ()

    INITIALIZING: ClassVar[BfbPhase]
    DOWNLOADING: ClassVar[BfbPhase]
    READY: ClassVar[BfbPhase]
    DELETING: ClassVar[BfbPhase]
    ERROR: ClassVar[BfbPhase]


BfbPhase._define(
    {
        "INITIALIZING": "Initializing",
        "DOWNLOADING": "Downloading",
        "READY": "Ready",
        "DELETING": "Deleting",
        "ERROR": "Error",
    }
)


class DpuClusterPhase(Phase):
    """`DPUCluster.status.phase` (provisioning.dpu.nvidia.com, v25.10.1 enum)."""

    __slots__ = ()

    PENDING: ClassVar[DpuClusterPhase]
    CREATING: ClassVar[DpuClusterPhase]
    READY: ClassVar[DpuClusterPhase]
    NOT_READY: ClassVar[DpuClusterPhase]
    FAILED: ClassVar[DpuClusterPhase]


DpuClusterPhase._define(
    {
        "PENDING": "Pending",
        "CREATING": "Creating",
        "READY": "Ready",
        "NOT_READY": "NotReady",
        "FAILED": "Failed",
    }
)


class DpuVolumePhase(Phase):
    """`DPUVolume.status.phase` (storage.dpu.nvidia.com, v25.10.1 enum)."""

    __slots__ = ()

    PENDING: ClassVar[DpuVolumePhase]
    BOUND: ClassVar[DpuVolumePhase]


DpuVolumePhase._define({"PENDING": "Pending", "BOUND": "Bound"})


ZERO_TRUST_HAPPY_PATH: tuple[DpuPhase, ...] = (
    DpuPhase.INITIALIZING,
    DpuPhase.PENDING,
    DpuPhase.NODE_EFFECT,
    DpuPhase.INITIALIZE_INTERFACE,
    DpuPhase.CONFIG_FW_PARAMETERS,
    DpuPhase.PREPARE_BFB,
    DpuPhase.OS_INSTALLING,
    DpuPhase.REBOOTING,
    DpuPhase.DPU_CLUSTER_CONFIG,
    DpuPhase.NODE_EFFECT_REMOVAL,
    DpuPhase.READY,
)
"""The phases a DPU passes through on the zero-trust (Redfish) path, in order."""

ZERO_TRUST_CONDITIONS: Mapping[DpuPhase, tuple[str, ...]] = MappingProxyType(
    {
        DpuPhase.INITIALIZING: ("Initialized",),
        DpuPhase.PENDING: ("BFBReady",),
        DpuPhase.NODE_EFFECT: ("NodeEffectReady",),
        DpuPhase.INITIALIZE_INTERFACE: ("InterfaceInitialized",),
        DpuPhase.CONFIG_FW_PARAMETERS: ("FWConfigured",),
        DpuPhase.PREPARE_BFB: ("BFBPrepared",),
        DpuPhase.OS_INSTALLING: ("BFBTransferred", "OSInstalled"),
        DpuPhase.REBOOTING: ("Rebooted",),
        DpuPhase.DPU_CLUSTER_CONFIG: ("DPUClusterReady",),
        DpuPhase.NODE_EFFECT_REMOVAL: ("NodeEffectRemoved",),
        DpuPhase.READY: ("Ready",),
    }
)
"""The conditions each zero-trust phase sets True when it completes, by phase."""
