"""Serves the lead pipeline's agents until Ctrl-C or SIGTERM.

    WEFT_URL=http://127.0.0.1:7070 python examples/worker.py
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agents import lead_pipeline_worker  # noqa: E402

if __name__ == "__main__":
    url = os.environ.get("WEFT_URL", "http://127.0.0.1:7070")
    print(f"serving the lead pipeline's agents for {url}", flush=True)
    lead_pipeline_worker(url).run()
    print("worker stopped")
