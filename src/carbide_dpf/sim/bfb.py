"""The BFB controller: Initializing -> Downloading -> Ready, with `status.fileName`."""

from __future__ import annotations

import logging
from typing import Any

from carbide_dpf.kube.client import KubeObject
from carbide_dpf.models.phase import BfbPhase
from carbide_dpf.sim.base import Controller, Dwell, SimContext
from carbide_dpf.sim.objects import BFB, BFB_FINALIZER, has_finalizer, is_deleting

__all__ = ["BfbController", "bfb_file_name"]

log = logging.getLogger(__name__)


def bfb_file_name(bfb: KubeObject) -> str:
    """Return the BFB's file name: `spec.fileName`, else `<namespace>-<name>.bfb`."""
    meta = bfb["metadata"]
    return str((bfb.get("spec") or {}).get("fileName") or f"{meta['namespace']}-{meta['name']}.bfb")


class BfbController(Controller):
    """"Downloads" each BFB: a phase per step, the Downloading one lasting the set time."""

    name = "bfb"

    def __init__(self, ctx: SimContext, workers: int) -> None:
        """Create the controller."""
        super().__init__(ctx, workers)
        self._dwell = Dwell()

    async def reconcile(self, key: str) -> float | None:
        """Take the BFB at `key` one phase further."""
        bfb = self.ctx.bfbs.get(key)
        if bfb is None:
            self._dwell.forget(key)
            return None
        if is_deleting(bfb):
            await self.remove_finalizer(BFB, bfb, BFB_FINALIZER)
            return None
        if not has_finalizer(bfb, BFB_FINALIZER):
            await self.add_finalizer(BFB, bfb, BFB_FINALIZER)
            return None

        status = bfb.get("status") or {}
        phase = status.get("phase")
        if not status.get("fileName"):
            await self._write(bfb, BfbPhase.INITIALIZING, {"fileName": bfb_file_name(bfb)})
        elif phase == BfbPhase.INITIALIZING:
            await self._write(bfb, BfbPhase.DOWNLOADING)
        elif phase == BfbPhase.DOWNLOADING:
            seconds = self.ctx.config.bfb_download_seconds
            wait = self._dwell.remaining(key, bfb["metadata"]["uid"], phase, seconds)
            if wait > 0:
                return wait
            await self._write(bfb, BfbPhase.READY)
        return None

    async def _write(
        self, bfb: KubeObject, phase: str, extra: dict[str, Any] | None = None
    ) -> None:
        meta = bfb["metadata"]
        patch = {
            "metadata": {"resourceVersion": meta["resourceVersion"]},
            "status": {"phase": phase, **(extra or {})},
        }
        await self.ctx.kube.patch_status(BFB, meta["name"], patch, meta["namespace"])
        log.info("bfb phase bfb=%s ns=%s to=%s", meta["name"], meta["namespace"], phase)
