"""Deletes that tolerate objects already gone, and force deletes that say what they did.

A force delete first removes the labels the SDK set (so a DPUNode leaves its DPUSet's
selection and nothing is recreated behind it), then deletes, and strips finalizers only when
asked: finalizers are the operator's cleanup, and skipping them on a live object must be a
deliberate, logged choice.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from carbide_dpf.errors import DpfError
from carbide_dpf.kube.client import KubeClient, KubeObject
from carbide_dpf.kube.errors import ConflictError, InvalidError, NotFoundError
from carbide_dpf.kube.resource import ResourceKind
from carbide_dpf.sdk.labels import OWNED_LABELS_ANNOTATION, owned_label_keys
from carbide_dpf.sdk.snapshot import DeleteResult

__all__ = ["Deleter"]

log = logging.getLogger(__name__)

# Each attempt re-reads the object; more than a few conflicts in a row means something keeps
# rewriting it, and the caller should look rather than have us loop.
_FINALIZER_ATTEMPTS = 5


def object_key(kind: ResourceKind, name: str) -> str:
    """Return `Kind/name`, the key objects have in a `DeleteResult`."""
    return f"{kind.kind}/{name}"


def finalizers_of(obj: Mapping[str, Any] | None) -> list[str]:
    """Return the finalizers of a raw object (none for None)."""
    if not obj:
        return []
    return list((obj.get("metadata") or {}).get("finalizers") or [])


class Deleter:
    """Deletes and force deletes in one namespace; `our_labels` are label keys that are the
    SDK's wherever they appear (besides those an object's owned-labels annotation lists)."""

    def __init__(self, kube: KubeClient, namespace: str, our_labels: Sequence[str]) -> None:
        """Act with `kube` in `namespace`."""
        self._kube = kube
        self._namespace = namespace
        self._our_labels = tuple(our_labels)

    async def delete(self, kind: ResourceKind, name: str) -> DeleteResult:
        """Delete one object; gone already is fine, finalizers left are reported."""
        result, key = DeleteResult(), object_key(kind, name)
        try:
            remaining = await self._kube.delete(kind, name, self._namespace)
        except NotFoundError:
            result.already_gone.append(key)
            log.debug("already gone object=%s namespace=%s", key, self._namespace)
            return result

        result.deleted.append(key)
        finalizers = finalizers_of(remaining)
        if finalizers:
            result.pending_finalizers[key] = finalizers
        log.info("deleted object=%s namespace=%s", key, self._namespace)
        return result

    async def force_delete(self, kind: ResourceKind, name: str,
                           remove_finalizers: bool) -> DeleteResult:
        """Remove our labels, delete, and with `remove_finalizers` strip the finalizers."""
        obj = await self._kube.get_or_none(kind, name, self._namespace)
        if obj is None:
            return DeleteResult(already_gone=[object_key(kind, name)])

        result = await self.strip_labels(kind, obj)
        result.merge(await self.delete(kind, name))
        key = object_key(kind, name)
        if remove_finalizers and key in result.pending_finalizers:
            stripped = await self._strip_finalizers(kind, name)
            if stripped:
                result.finalizers_removed[key] = stripped
                result.pending_finalizers.pop(key, None)
        return result

    async def strip_labels(self, kind: ResourceKind, obj: KubeObject) -> DeleteResult:
        """Remove the SDK's labels (and the annotation listing them) from `obj`."""
        name, result = str(obj["metadata"]["name"]), DeleteResult()
        keys = owned_label_keys(obj, self._our_labels)
        if not keys:
            return result

        patch = {"metadata": {"labels": dict.fromkeys(keys),
                              "annotations": {OWNED_LABELS_ANNOTATION: None}}}
        try:
            await self._kube.merge_patch(kind, name, patch, self._namespace)
        except NotFoundError:
            return result
        result.labels_removed[object_key(kind, name)] = keys
        log.info("removed labels object=%s labels=%s namespace=%s",
                 object_key(kind, name), ",".join(keys), self._namespace)
        return result

    async def _strip_finalizers(self, kind: ResourceKind, name: str) -> list[str]:
        """Remove every finalizer, guarded by the resourceVersion read just before, so the
        result lists exactly what was stripped."""
        key = object_key(kind, name)
        for _attempt in range(_FINALIZER_ATTEMPTS):
            obj = await self._kube.get_or_none(kind, name, self._namespace)
            finalizers = finalizers_of(obj)
            if obj is None or not finalizers:
                return []

            ops = [
                {"op": "test", "path": "/metadata/resourceVersion",
                 "value": obj["metadata"]["resourceVersion"]},
                {"op": "remove", "path": "/metadata/finalizers"},
            ]
            try:
                await self._kube.json_patch(kind, name, ops, self._namespace)
            except (InvalidError, ConflictError):
                continue  # changed since the read: read again
            except NotFoundError:
                return []
            log.warning("stripped finalizers object=%s finalizers=%s namespace=%s",
                        key, ",".join(finalizers), self._namespace)
            return finalizers
        raise DpfError(f"{key} kept changing while its finalizers were being removed; "
                       "retry the force delete")
