"""Prometheus metrics of the simulator (served by `carbide-dpf sim --metrics-port`)."""

from __future__ import annotations

from prometheus_client import Counter

__all__ = ["DPU_TRANSITIONS", "RECONCILES", "RECONCILE_ERRORS"]

RECONCILES = Counter(
    "carbide_dpf_sim_reconciles_total", "Reconciles run, by controller", ["controller"]
)
RECONCILE_ERRORS = Counter(
    "carbide_dpf_sim_reconcile_errors_total",
    "Reconciles that failed and were retried, by controller",
    ["controller"],
)
DPU_TRANSITIONS = Counter(
    "carbide_dpf_sim_dpu_transitions_total",
    "DPU phase transitions written, by new phase",
    ["phase"],
)
