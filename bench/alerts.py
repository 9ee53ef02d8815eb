"""Throughput and per-alert latency of the alert noise reducer on the AIT scenarios.

Run: .venv/bin/python bench/alerts.py [--data-dir PATH]. Prints alerts/s and p50/p99 of
``NoiseReducer.ingest``; loading the CSV is not timed.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from mspclaw.triage.datasets import find_dataset
from mspclaw.triage.eval_ops import AIT_SCENARIOS, load_ait
from mspclaw.triage.noise import NoiseReducer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args()
    folder = find_dataset("ait", args.data_dir)
    for scenario in AIT_SCENARIOS:
        events = [a.event for a in load_ait(folder / f"{scenario}_alerts.txt")]
        reducer = NoiseReducer()
        latencies: list[float] = []
        started = time.perf_counter()
        for event in events:
            before = time.perf_counter()
            reducer.ingest(event)
            latencies.append(time.perf_counter() - before)
        total = time.perf_counter() - started
        cuts = statistics.quantiles(latencies, n=100)
        print(
            f"{scenario:16s} {len(events):7d} alerts  {len(events) / total:9.0f} alerts/s  "
            f"p50 {cuts[49] * 1e6:6.1f} us  p99 {cuts[98] * 1e6:7.1f} us  "
            f"state {reducer.state_size()}"
        )


if __name__ == "__main__":
    main()
