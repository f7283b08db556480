"""Kubernetes conditions on raw status dictionaries: read, set, compare.

Setters return a new list and keep `lastTransitionTime` when the status does not change, as
apimachinery's `meta.SetStatusCondition` does, so that writing the same condition twice is a
no-op a caller can detect (and skip the write).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "Condition",
    "now",
    "same",
    "set_condition",
]

Condition = dict[str, Any]


def now() -> str:
    """Return the current time as Kubernetes writes it (RFC 3339, seconds, UTC)."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def set_condition(
    conditions: Iterable[Mapping[str, Any]] | None,
    kind: str,
    status: bool,
    reason: str,
    message: str = "",
    *,
    generation: int | None = None,
) -> list[Condition]:
    """Return `conditions` with `kind` set; its transition time moves only if status did."""
    text = "True" if status else "False"
    result: list[Condition] = []
    previous = None
    for condition in conditions or ():
        if condition.get("type") == kind:
            previous = condition
        else:
            result.append(dict(condition))

    changed = previous is None or previous.get("status") != text
    entry: Condition = {
        "type": kind,
        "status": text,
        "reason": reason,
        "message": message,
        "lastTransitionTime": now() if changed or previous is None
        else previous.get("lastTransitionTime", now()),
    }
    if generation is not None:
        entry["observedGeneration"] = generation
    result.append(entry)
    return result


def same(
    old: Iterable[Mapping[str, Any]] | None, new: Iterable[Mapping[str, Any]] | None
) -> bool:
    """Return whether two condition lists agree on every type's status, reason and message."""

    def digest(items: Iterable[Mapping[str, Any]] | None) -> dict[str, tuple[Any, ...]]:
        return {
            str(c.get("type")): (c.get("status"), c.get("reason"), c.get("message"))
            for c in items or ()
        }

    return digest(old) == digest(new)
