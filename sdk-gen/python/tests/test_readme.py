"""The README's workflow example (the block marked `python definition`),
extracted with scripts/readme-code as the quick-start is, must build and
pass the server's validation: the tour works as written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any, Dict

from weftflow import Weft, WorkflowBuilder

SDK = Path(__file__).resolve().parent.parent
README_CODE = SDK.parent.parent / "scripts" / "readme-code"


def readme_block(marker: str) -> str:
    done = subprocess.run([sys.executable, str(README_CODE), str(SDK / "README.md"), marker],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_definition_example_is_valid(client: Weft) -> None:
    scope: Dict[str, Any] = {}
    exec(compile(readme_block("definition"), "README.md#definition", "exec"), scope)
    lead = scope["lead"]
    assert isinstance(lead, WorkflowBuilder)
    answer = client.workflows.validate(lead)
    assert answer.valid, [f"{p.step_id}.{p.field}: {p.message}" for p in answer.problems]


def test_the_quickstart_stays_short() -> None:
    lines = readme_block("quickstart").strip().splitlines()
    assert len(lines) <= 20, f"the quick-start has {len(lines)} lines; the README promises at most 20"
    assert "api_key" not in readme_block("quickstart")
    assert "th_live" not in (SDK / "README.md").read_text()
