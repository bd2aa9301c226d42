"""The lead pipeline from Python (sync client): apply it with the builder,
estimate it, run it with a worker (a background thread of this process),
print its events as they stream, approve the CRM update through the API when
the run pauses for it, and exit 0 only if the run completed.

    WEFT_URL=http://127.0.0.1:7070 python examples/lead_pipeline.py Stripe https://stripe.com

``--no-worker`` leaves the agents to a worker elsewhere (examples/worker.py).
"""

from __future__ import annotations

import json
import os
import sys

from weftflow import RunStatus, Weft, format_money

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agents import lead_pipeline_worker  # noqa: E402
from pipeline import lead_pipeline  # noqa: E402


def approve_pending(client: Weft, run_id: str) -> None:
    """Approves what the run waits on (its pending action) as this example."""
    pending = client.workflows.get_run(run_id).pending_action
    if pending is None:
        return
    print(f"  approving {pending.type} on step {pending.step} ({pending.message})", flush=True)
    client.runs.resume(run_id, step=pending.step, input={"option": "approve", "decidedBy": "lead_pipeline example"})


def main(argv: list[str]) -> bool:
    args = [a for a in argv if not a.startswith("--")]
    company = args[0] if args else "Stripe"
    website = args[1] if len(args) > 1 else "https://stripe.com"
    url = os.environ.get("WEFT_URL", "http://127.0.0.1:7070")
    worker = None if "--no-worker" in argv else lead_pipeline_worker(url).start()
    try:
        with Weft(base_url=url) as client:
            # apply: the first run creates the workflow, later ones reuse it
            # (or write a new version when pipeline.py changed).
            wf = client.workflows.apply(lead_pipeline())
            print(f"{wf.outcome} {wf.id} version {wf.version}")

            inputs = {"company": company, "website": website}
            estimate = client.workflows.estimate(wf.id, input=inputs)
            print(
                f"estimate: {estimate.agent_calls_min}..{estimate.agent_calls_max} agent calls, "
                f"cost {format_money(estimate.min_cost)} to {format_money(estimate.max_cost)}"
            )

            run = wf.run(user_id="user_456", input=inputs)
            print(f"run {run.id} started", flush=True)
            for event in client.workflows.stream_run(run.id):
                step = f" {event.step_id}" if event.step_id else ""
                print(f"  #{event.sequence} {event.type}{step}", flush=True)
                if event.type == "approval.pending":
                    approve_pending(client, run.id)

            done = client.workflows.get_run(run.id)
            output = json.dumps(done.output, sort_keys=True, separators=(",", ":"))
            print(f"run {done.status}, total cost {done.cost}, output {output}")
            return done.status == RunStatus.COMPLETED
    finally:
        if worker is not None:
            worker.stop()


if __name__ == "__main__":
    sys.exit(0 if main(sys.argv[1:]) else 1)
