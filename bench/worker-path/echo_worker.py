"""An SDK worker serving agent ``echo`` (its output is its input, at once),
for ``benches/worker_path.rs``: the Python SDK's own worker runtime, so the
bench measures what a Python user gets.

    sdk-gen/python/.venv/bin/python bench/worker-path/echo_worker.py URL [CONCURRENCY]

Serves until SIGTERM or Ctrl-C, then lets its tasks in flight finish.
"""

from __future__ import annotations

import os
import sys
from typing import Any

# The SDK from this checkout, as its own tests and examples import it.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "sdk-gen", "python"))
from weftflow import Worker  # noqa: E402
from weftflow.worker import TaskContext  # noqa: E402


async def echo(task: TaskContext) -> Any:
    return task.input


if __name__ == "__main__":
    url = sys.argv[1]
    concurrency = int(sys.argv[2]) if len(sys.argv) > 2 else 64
    Worker(url, name="bench-echo-python", concurrency=concurrency).agent("echo", echo).run()
