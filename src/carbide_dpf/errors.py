"""The root of carbide-dpf's error hierarchy.

```
DpfError                 anything this package raises on purpose
 ├── ConfigError         the configuration (kubeconfig, environment, files) is unusable
 ├── ValidationError     the caller's input breaks a rule; nothing was written
 ├── FlowTimeoutError    a wait ran out of time; the objects are left as they were
 └── KubeError           the Kubernetes layer (see carbide_dpf.kube.errors)
```

Callers that only want to know "did carbide-dpf refuse or fail" catch `DpfError`; the
subclasses say what to do next: fix the configuration, fix the input, wait longer, or look at
the API server's answer.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ConfigError",
    "DpfError",
    "FieldProblem",
    "FlowTimeoutError",
    "ValidationError",
]


class DpfError(Exception):
    """Base class of every error carbide-dpf raises on purpose."""


class ConfigError(DpfError):
    """The configuration cannot be used; the message names the setting to fix."""


class FlowTimeoutError(DpfError):
    """A wait for the operator ran out of time; nothing was rolled back."""


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One broken rule: the input field (a dotted path), the rule's name and a message."""

    field: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message} (rule: {self.rule})"


class ValidationError(DpfError):
    """The input breaks one or more rules; nothing was written to the cluster."""

    def __init__(self, problems: list[FieldProblem]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(f"invalid input, nothing was written; fix these fields:\n{lines}")

    @property
    def fields(self) -> list[str]:
        """The offending field paths, in the order they were found."""
        return [problem.field for problem in self.problems]
