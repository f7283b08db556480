"""What a simulator run is told: where to act, how long each phase lasts, what to break."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from carbide_dpf.errors import ConfigError
from carbide_dpf.sim.faults import Fault

__all__ = ["SimConfig"]


@dataclass(frozen=True, slots=True)
class SimConfig:
    """The settings of one `Simulator`; immutable, so a restarted simulator can reuse them.

    Dwell times are the seconds a DPU stays in a phase before the step that ends it runs;
    `dwell` maps a phase name (as the operator writes it, "OS Installing") to seconds and
    `default_dwell` covers the others. Zero everywhere runs as fast as the API server allows.

    `auto_release_hold` and `auto_reboot` make the simulator play the client's part too
    (release the hold, clear the reboot annotation): for benchmarks, off by default.

    The two quirk flags reproduce behaviour of the real v25.10.1 operator that clients must
    survive; both are on by default because that is what a client meets in the field.
    """

    namespace: str | None = None
    dwell: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    default_dwell: float = 0.0
    bfb_download_seconds: float = 0.0
    faults: tuple[Fault, ...] = ()
    auto_release_hold: bool = False
    auto_reboot: bool = False
    quirk_skip_hold_on_single_reprovision: bool = True
    quirk_hold_delete_during_install: bool = True
    # Few workers on purpose: the client's CPU per request grows with the number of open
    # connections (measured 4 ms at 4 in flight, 8 ms at 32), and on two shared cores the
    # simulator is CPU-bound, so more concurrency only makes it slower.
    workers: int = 2
    dpu_workers: int = 8
    statistics_interval: float = 0.5
    dpf_version: str = "v25.10.1"
    dpu_cluster_name: str = "dpu-cplane-tenant1"
    dpu_cluster_namespace: str = "dpu-cplane-tenant1"

    def __post_init__(self) -> None:
        """Refuse settings that would make the simulator misbehave instead of failing later."""
        times = [self.default_dwell, self.bfb_download_seconds, *self.dwell.values()]
        if any(not math.isfinite(t) or t < 0 for t in times):
            raise ConfigError("dwell times must be finite and >= 0 seconds; fix --dwell")
        if self.workers < 1 or self.dpu_workers < 1:
            raise ConfigError("workers and dpu_workers must be at least 1")

    def dwell_for(self, phase: str) -> float:
        """Return the seconds a DPU spends in `phase` before moving on."""
        return self.dwell.get(phase, self.default_dwell)
