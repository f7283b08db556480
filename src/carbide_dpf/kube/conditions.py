"""Reading the Kubernetes `status.conditions` convention on raw objects."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["find_condition", "is_condition_true"]


def find_condition(obj: Mapping[str, Any], condition_type: str) -> Mapping[str, Any] | None:
    """Return the raw object's condition of type `condition_type`, or None."""
    for condition in (obj.get("status") or {}).get("conditions") or ():
        if condition.get("type") == condition_type:
            return condition  # type: ignore[no-any-return]
    return None


def is_condition_true(obj: Mapping[str, Any], condition_type: str) -> bool:
    """Return whether the raw object has condition `condition_type` with status "True"."""
    condition = find_condition(obj, condition_type)
    return condition is not None and condition.get("status") == "True"
