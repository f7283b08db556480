"""Faults injected on demand: DPUs sent to Error at a phase, or stalled in one.

A fault picks DPUs by name: a shell-style glob, and then a deterministic fraction of the names
the glob matches. The fraction is decided by hashing the seed with the name, so the same seed
picks the same DPUs in every run and after a simulator restart, without remembering anything.
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from carbide_dpf.errors import ConfigError
from carbide_dpf.models.phase import DpuPhase

__all__ = ["Fault", "FaultKind", "FaultPlan"]

log = logging.getLogger(__name__)


class FaultKind(StrEnum):
    """What a fault does to the DPUs it picks."""

    ERROR = "error"
    """Move the DPU to Error when it reaches the phase (terminal until the DPU is deleted)."""
    STALL = "stall"
    """Keep the DPU in the phase for as long as the fault is in force."""


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault: its kind, the phase it acts at, and which DPUs it picks."""

    kind: FaultKind
    phase: str
    names: str = "*"
    fraction: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        """Check the phase and the fraction so a typo fails at start, not silently."""
        if self.phase not in DpuPhase.KNOWN:
            known = ", ".join(sorted(DpuPhase.KNOWN))
            raise ConfigError(f"unknown DPU phase {self.phase!r} in a fault; use one of {known}")
        if not 0.0 <= self.fraction <= 1.0:
            raise ConfigError(f"fault fraction must be within [0, 1], got {self.fraction}")

    def selects(self, name: str) -> bool:
        """Return whether this fault picks the DPU called `name`."""
        if not fnmatch.fnmatchcase(name, self.names):
            return False
        if self.fraction >= 1.0:
            return True

        digest = hashlib.sha256(f"{self.seed}:{name}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64 < self.fraction

    @classmethod
    def parse(cls, text: str) -> Fault:
        """Parse `KIND:PHASE[:GLOB[:FRACTION[:SEED]]]`, e.g. `error:OS Installing:*-dpu1:0.1:7`."""
        parts = text.split(":")
        if len(parts) < 2 or len(parts) > 5:
            raise ConfigError(f"bad fault {text!r}; write KIND:PHASE[:GLOB[:FRACTION[:SEED]]]")
        try:
            kind = FaultKind(parts[0].strip().lower())
            names = parts[2] if len(parts) > 2 and parts[2] else "*"
            fraction = float(parts[3]) if len(parts) > 3 and parts[3] else 1.0
            seed = int(parts[4]) if len(parts) > 4 and parts[4] else 0
        except ValueError as exc:
            raise ConfigError(f"bad fault {text!r}: {exc}; kinds are error and stall") from exc
        return cls(kind, parts[1], names, fraction, seed)


class FaultPlan:
    """The faults in force, changeable while the simulator runs.

    An error fault hits each DPU name at most once: a DPU recreated after the fault sent it to
    Error provisions normally, as a reprovisioned DPU does once the cause is fixed. That memory
    is the only state kept here, and losing it on restart is harmless (the hit DPU is in Error,
    which is terminal anyway).
    """

    def __init__(self, faults: Iterable[Fault] = ()) -> None:
        """Start with `faults` in force."""
        self._faults: list[Fault] = list(faults)
        self._hit: set[tuple[Fault, str]] = set()
        self._listeners: list[Callable[[], None]] = []

    @property
    def faults(self) -> tuple[Fault, ...]:
        """The faults in force, in the order they were added."""
        return tuple(self._faults)

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call `listener` after every change (the simulator re-examines its DPUs)."""
        self._listeners.append(listener)

    def add(self, fault: Fault) -> None:
        """Put `fault` in force."""
        self._faults.append(fault)
        log.info("fault added kind=%s phase=%s names=%s", fault.kind, fault.phase, fault.names)
        self._changed()

    def remove(self, fault: Fault) -> None:
        """Lift `fault` (a stalled DPU moves on); unknown faults are ignored."""
        if fault in self._faults:
            self._faults.remove(fault)
            log.info("fault lifted kind=%s phase=%s", fault.kind, fault.phase)
            self._changed()

    def clear(self) -> None:
        """Lift every fault."""
        self._faults.clear()
        self._changed()

    def error_for(self, name: str, phase: str) -> Fault | None:
        """Return the error fault that fires for DPU `name` in `phase` now, marking it used."""
        for fault in self._faults:
            if fault.kind is not FaultKind.ERROR or fault.phase != phase:
                continue
            if (fault, name) in self._hit or not fault.selects(name):
                continue
            self._hit.add((fault, name))
            return fault
        return None

    def stalled(self, name: str, phase: str) -> bool:
        """Return whether a stall fault holds DPU `name` in `phase`."""
        return any(
            fault.kind is FaultKind.STALL and fault.phase == phase and fault.selects(name)
            for fault in self._faults
        )

    def _changed(self) -> None:
        for listener in self._listeners:
            listener()
