"""Helpers of the CLI tests: run the `carbide-dpf` executable as a subprocess."""

from __future__ import annotations

import asyncio
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

EXECUTABLE = str(Path(sys.executable).with_name("carbide-dpf"))
BFB_URL = "https://bfb.example.com/images/bf-bundle-2.9.1.bfb"


@dataclass(frozen=True)
class Result:
    """What one CLI run returned."""

    code: int
    stdout: str
    stderr: str


@dataclass
class Cli:
    """Runs `carbide-dpf` with the test's kubeconfig and namespace."""

    kubeconfig: Path
    namespace: str

    async def start(self, *args: str) -> asyncio.subprocess.Process:
        """Start a command (cluster options added) without waiting for it, with Ctrl-C
        working as in a terminal: a test run started in the background by a shell without
        job control inherits SIGINT ignored, and a child would ignore the test's Ctrl-C too."""
        return await asyncio.create_subprocess_exec(
            EXECUTABLE, *args, "--kubeconfig", str(self.kubeconfig), "-n", self.namespace,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            preexec_fn=_default_sigint)

    async def __call__(self, *args: str, verbose: int = 0) -> Result:
        """Run a command to its end; `verbose` adds -v flags before it."""
        flags = ("-" + "v" * verbose,) if verbose else ()
        process = await asyncio.create_subprocess_exec(
            EXECUTABLE, *flags, *args, "--kubeconfig", str(self.kubeconfig),
            "-n", self.namespace,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        return await finish(process)


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


async def finish(process: asyncio.subprocess.Process) -> Result:
    """Wait for `process` and collect its output."""
    out, err = await asyncio.wait_for(process.communicate(), 240)
    assert process.returncode is not None
    return Result(process.returncode, out.decode(), err.decode())
