"""The ledger: which state callbacks were delivered for which DPU uid.

Two records per DPU uid, kept as bit sets of `DpuState`:

- *acknowledged*: every callback of that state succeeded. Persisted on the DPU itself in the
  annotation `watcher.carbide.nvidia.com/delivered` (configurable), whose value is JSON
  `{"uid": "<uid>", "states": ["maintenance", "reboot"]}`, written with a JSON merge patch
  after the callbacks succeeded. A new leader reads it from the object and does not repeat
  what the old leader completed. The uid inside the value, and `metadata.uid` in the patch,
  make a recreated DPU (same name, new uid) start clean.
- *attempted*: this process has handed the state to the delivery queue (in memory only). A
  live event does not deliver an attempted state again; a resync does when the state is still
  not acknowledged and nothing is queued for the DPU, which retries callbacks that gave up.

The window of at-least-once: a crash (or a lost lease) after the callback returned and before
the annotation was written means the next leader calls it again. Callbacks must therefore be
idempotent for that one window; everything the SDK does on them (releasing a hold, clearing a
reboot annotation) is.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson

from carbide_dpf.kube.client import KubeClient, KubeObject
from carbide_dpf.kube.errors import ConflictError, InvalidError, KubeError, NotFoundError
from carbide_dpf.kube.resource import ResourceKind
from carbide_dpf.watcher.events import DpuState

__all__ = ["LEDGER_ANNOTATION", "Ledger"]

log = logging.getLogger(__name__)

LEDGER_ANNOTATION = "watcher.carbide.nvidia.com/delivered"
"""The default annotation in which the watcher records the state callbacks it delivered."""

_STATES = tuple(DpuState)
_BIT = {state: 1 << i for i, state in enumerate(_STATES)}


class Ledger:
    """Delivered and attempted state entries per DPU uid; see the module docstring."""

    def __init__(self, kube: KubeClient, kind: ResourceKind, annotation: str | None) -> None:
        """Keep the ledger in memory, and in `annotation` on each DPU unless it is None."""
        self._kube = kube
        self._kind = kind
        self.annotation = annotation
        self._acked: dict[str, int] = {}
        self._attempted: dict[str, int] = {}
        # (uid, state) -> indices of the registration's functions that succeeded before its
        # delivery gave up; a resync's delivery skips them.
        self._succeeded: dict[tuple[str, DpuState], frozenset[int]] = {}

    def acknowledged(self, obj: KubeObject, state: DpuState) -> bool:
        """Whether `state` was delivered for this DPU's uid (by us, or as its annotation says)."""
        uid = _uid(obj)
        if self._acked.get(uid, 0) & _BIT[state]:
            return True
        return state in self.persisted(obj)

    def persisted(self, obj: KubeObject) -> frozenset[DpuState]:
        """The states the DPU's own annotation records for its current uid."""
        if self.annotation is None:
            return frozenset()
        raw = ((obj.get("metadata") or {}).get("annotations") or {}).get(self.annotation)
        if not raw:
            return frozenset()
        try:
            record = orjson.loads(raw)
            if record.get("uid") != _uid(obj):
                return frozenset()  # copied from an older incarnation: not ours
            return frozenset(DpuState(s) for s in record.get("states", ()) if s in _VALUES)
        except (orjson.JSONDecodeError, AttributeError, TypeError):
            log.warning("ignoring malformed ledger annotation dpu=%s value=%.200s",
                        _name(obj), raw)
            return frozenset()

    def attempted(self, uid: str, state: DpuState) -> bool:
        """Whether this process already queued `state` for `uid`."""
        return bool(self._attempted.get(uid, 0) & _BIT[state])

    def mark_attempted(self, uid: str, state: DpuState) -> None:
        """Record that `state` was queued for `uid`."""
        self._attempted[uid] = self._attempted.get(uid, 0) | _BIT[state]

    def clear_attempt(self, uid: str, state: DpuState) -> None:
        """Forget that `state` was queued for `uid` (its delivery found the DPU elsewhere)."""
        if uid in self._attempted:
            self._attempted[uid] &= ~_BIT[state]

    def remember_succeeded(self, uid: str, state: DpuState, indices: set[int]) -> None:
        """Record which functions of a given-up delivery of `state` already succeeded."""
        if indices:
            self._succeeded[(uid, state)] = frozenset(indices)

    def succeeded(self, uid: str, state: DpuState) -> set[int]:
        """The functions of `state` that succeeded for `uid` before a delivery gave up."""
        return set(self._succeeded.get((uid, state), ()))

    def forget(self, uid: str) -> None:
        """Drop what is known about `uid` (the DPU was deleted)."""
        self._acked.pop(uid, None)
        self._attempted.pop(uid, None)
        for key in [key for key in self._succeeded if key[0] == uid]:
            del self._succeeded[key]

    def reset_attempts(self) -> None:
        """Forget every attempt (on a change of leadership: the queue was dropped)."""
        self._attempted.clear()

    def __len__(self) -> int:
        """The number of uids with something recorded in memory."""
        return len(self._acked.keys() | self._attempted.keys())

    async def record(self, live: KubeObject, state: DpuState) -> bool:
        """Acknowledge `state` for the DPU `live` (as just read); False if it was replaced.

        The in-memory record is kept even when the write fails, so this process never repeats
        the callback; a failed write only widens the at-least-once window for a next leader.
        """
        uid = _uid(live)
        self._acked[uid] = self._acked.get(uid, 0) | _BIT[state]
        self._succeeded.pop((uid, state), None)
        if self.annotation is None:
            return True

        states = self.persisted(live) | {s for s in _STATES if self._acked[uid] & _BIT[s]}
        value = orjson.dumps({"uid": uid, "states": sorted(states)}).decode()
        # metadata.uid makes the patch fail instead of marking a DPU recreated meanwhile.
        patch: dict[str, Any] = {"metadata": {"uid": uid, "annotations": {self.annotation: value}}}
        meta = live.get("metadata") or {}
        try:
            await self._kube.merge_patch(self._kind, meta["name"], patch, meta.get("namespace"))
        except (NotFoundError, ConflictError, InvalidError) as exc:
            log.info("dpu replaced before its ledger was written dpu=%s uid=%s reason=%s",
                     _name(live), uid, type(exc).__name__)
            return False
        except KubeError as exc:
            # The callbacks succeeded: retrying the delivery would report them as failed.
            # Only a next leader (which cannot see the in-memory record) may repeat them.
            log.warning("could not write the ledger dpu=%s uid=%s state=%s error=%s; a next "
                        "leader may repeat this callback: check that this identity may patch "
                        "dpus", _name(live), uid, state.value, exc)
            return False
        return True


_VALUES = frozenset(s.value for s in _STATES)


def _uid(obj: KubeObject) -> str:
    return str((obj.get("metadata") or {}).get("uid", ""))


def _name(obj: KubeObject) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"
