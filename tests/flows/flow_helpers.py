"""Helpers of the flow tests: constants and a power cycler that counts instead of rebooting."""

from __future__ import annotations

from dataclasses import dataclass, field

from carbide_dpf.kube.ratelimit import ExponentialBackoff

BFB_URL = "https://bfb.example.com/images/bf-bundle-2.9.1.bfb"
PASSWORD = "Flow-S3cret-pa55word!"
FAST_RETRY = ExponentialBackoff(base=0.05, cap=0.5, jitter=0.0)


@dataclass
class CountingCycler:
    """Stands in for the host's BMC: counts the power cycles the flow asks for."""

    calls: list[str] = field(default_factory=list)

    async def __call__(self) -> object:
        self.calls.append("power-cycle")
        return None
