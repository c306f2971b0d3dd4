"""Run every benchmark, one after another, and save each one's output under bench/results/.

    python -m bench.run_all            # full sizes (about an hour on a 2-core machine)
    python -m bench.run_all --quick    # reduced sizes, a few minutes
Benchmarks share the machine with nothing else while they run: start this on a quiet machine.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

FULL: list[list[str]] = [
    ["append_throughput"],
    ["replay_rate"],
    ["values_throughput"],
    ["objects_graph"],
    ["objects_thread"],
    ["records_scale"],
    ["websocket_roundtrips"],
    ["rest_throughput"],
    ["rpc_roundtrips"],
    ["peers"],
    ["time_travel"],
    ["lone_hops"],
    ["pg_writers"],
    ["replay_floor"],
]
QUICK: list[list[str]] = [
    ["append_throughput", "--seconds", "2", "--batch", "20000", "--repeat", "1"],
    ["replay_rate", "--events", "100000"],
    ["values_throughput", "--ops", "500"],
    ["objects_graph", "--vertices", "5000", "--edges", "15000", "--samples", "100"],
    ["objects_thread", "--items", "50000", "--posts", "500", "--samples", "100"],
    ["records_scale", "--sessions", "2000", "--samples", "50"],
    ["websocket_roundtrips", "--seconds", "1", "--connections", "1,10"],
    ["rest_throughput", "--seconds", "1"],
    ["rpc_roundtrips", "--seconds", "1", "--connections", "1,10", "--subscribers", "10", "--events", "50"],
    ["peers", "--seconds", "1", "--rounds", "1"],
    ["time_travel", "--samples", "5"],
    ["lone_hops", "--seconds", "1", "--rounds", "1"],
    ["pg_writers", "--seconds", "1", "--rounds", "1"],
    ["replay_floor", "--events", "50000", "--runs", "1"],
]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="reduced sizes")
    parser.add_argument("--only", help="comma-separated benchmark names")
    args = parser.parse_args()
    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    wanted = set(args.only.split(",")) if args.only else None
    failed = []
    for name, *options in QUICK if args.quick else FULL:
        if wanted is not None and name not in wanted:
            continue
        print(f"== {name} {' '.join(options)}", flush=True)
        run = subprocess.run(
            [sys.executable, "-m", f"bench.{name}", *options], capture_output=True, text=True, check=False
        )
        (results / f"{name}.txt").write_text(run.stdout + run.stderr)
        print(run.stdout, flush=True)
        if run.returncode != 0:
            failed.append(name)
            print(run.stderr[-2000:], flush=True)
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
