"""Start-up time of the CLI: the median wall time of `carbide-dpf --help` in fresh processes.

    uv run python benchmarks/cli_startup.py [RUNS]      # default 21 runs; target < 300 ms

Each run is a new interpreter through the installed console script, as a person types it.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGET_MS = 300.0


def one_run(executable: str, args: list[str]) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one `carbide-dpf ARGS` process."""
    before = os.times()
    started = time.perf_counter()
    subprocess.run([executable, *args], check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = os.times()
    cpu = (after.children_user - before.children_user
           + after.children_system - before.children_system)
    return wall, cpu


def main() -> None:
    """Time N runs of `--help` (after one warm-up run) and print the median."""
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 21
    executable = str(Path(sys.executable).with_name("carbide-dpf"))
    one_run(executable, ["--help"])  # warm the page cache and .pyc files

    samples = [one_run(executable, ["--help"]) for _ in range(runs)]
    walls = sorted(wall for wall, _ in samples)
    median = statistics.median(walls) * 1000
    cpu = statistics.median(cpu for _, cpu in samples) * 1000
    verdict = "ok" if median < TARGET_MS else "OVER TARGET"
    print(f"carbide-dpf --help: median {median:.0f} ms wall over {runs} runs "
          f"(min {walls[0] * 1000:.0f}, max {walls[-1] * 1000:.0f}), median CPU {cpu:.0f} ms; "
          f"target < {TARGET_MS:.0f} ms: {verdict}")
    # On a loaded machine wall time measures the queue for a core; CPU time does not.
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
