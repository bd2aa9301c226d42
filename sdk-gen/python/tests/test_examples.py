"""The lead-pipeline example, run as users run it, on both routes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "lead_pipeline.py"


def run_example(url: str, company: str, website: str) -> str:
    env = {**os.environ, "WEFT_URL": url, "PYTHONPATH": str(EXAMPLE.parent.parent)}
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), company, website], env=env, capture_output=True, text=True, timeout=90
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_high_score_route_approves_the_crm_update(url: str) -> None:
    out = run_example(url, "Stripe", "https://stripe.com")
    assert "approval.pending approve-crm" in out
    assert "approving approval on step approve-crm" in out
    assert "step.completed score-article[2]" in out
    assert "run completed, total cost 30 usd cents" in out


def test_low_score_route_approves_the_archivers_tool_use(url: str) -> None:
    out = run_example(url, "Tiny Co", "https://tiny.example.com")
    assert "approving tool_approval on step archive" in out
    assert '"archive":{"archived":true,"crm":true,"score":35' in out
    assert "run completed" in out
