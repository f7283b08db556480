"""tests/typing/use_models.py is checked by mypy; this runs it, so it must also work."""

from __future__ import annotations

import runpy
from pathlib import Path

PROGRAM = Path(__file__).resolve().parents[1] / "typing" / "use_models.py"


def test_the_typed_example_program_runs() -> None:
    namespace = runpy.run_path(str(PROGRAM), run_name="__main__")

    assert callable(namespace["main"])
    assert namespace["progress"].__name__ == "progress"
