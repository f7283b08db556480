"""The errors the flows raise on top of the SDK's (all `carbide_dpf.errors.DpfError`)."""

from __future__ import annotations

from carbide_dpf.errors import DpfError

__all__ = ["DpuFailedError", "FlowActionError"]


class DpuFailedError(DpfError):
    """A DPU of the host reached phase Error, which is terminal for that DPU."""

    def __init__(self, namespace: str, dpu_name: str, reason: str | None,
                 message: str | None) -> None:
        self.namespace = namespace
        self.dpu_name = dpu_name
        self.reason = reason
        self.detail = message
        why = f" ({reason}: {message})" if reason or message else ""
        super().__init__(
            f"DPU {namespace}/{dpu_name} is in phase Error{why}; the only way out is to "
            f"delete it: fix the cause, then run `carbide-dpf reprovision --dpu {dpu_name}`")


class FlowActionError(DpfError):
    """An action of the monitor (releasing a hold, power-cycling the host) kept failing."""

    def __init__(self, action: str, dpu_name: str, attempts: int, error: BaseException) -> None:
        self.action = action
        self.dpu_name = dpu_name
        self.attempts = attempts
        self.error = error
        super().__init__(
            f"{action} for DPU {dpu_name} failed {attempts} times, last: {error}; fix the "
            "cause and run the same command again, it resumes where it stopped")
