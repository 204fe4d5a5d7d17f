"""CPython's ThreadPoolExecutor on the work of crates/spindle/benches/futures.rs.

    python3 crates/spindle/benches/python/futures_bench.py [--workers N] [--runs R]

Prints one JSON line per case, best and median of R runs:

    {"bench": "submit_collect_100k_tiny_tasks", "impl": "cpython", "python": "3.11.7",
     "workers": 2, "tasks": 100000, "runs": 5, "best_s": 1.9, "median_s": 2.0,
     "tasks_per_s": 50000.0}

`tasks_per_s` is over the median run, as criterion's throughput for the Rust side; for
as_completed, `us_per_future` is the median time divided by the number of futures.
`workers` defaults to the number of cores, as the Rust benchmark.
"""

import argparse
import json
import os
import platform
import statistics
import time
from concurrent.futures import ThreadPoolExecutor, as_completed

TASKS = 100_000


def double(i):
    return i * 2


def ident(i):
    return i


def submit_then_collect(pool, n):
    """Seconds to submit n tiny tasks, then read every result in order."""
    start = time.perf_counter()
    futures = [pool.submit(double, i) for i in range(n)]
    total = sum(f.result() for f in futures)
    elapsed = time.perf_counter() - start
    assert total == n * (n - 1)
    return elapsed


def as_completed_drain(pool, n):
    """Seconds to submit n tiny tasks and read them all through as_completed."""
    start = time.perf_counter()
    futures = [pool.submit(ident, i) for i in range(n)]
    total = sum(f.result() for f in as_completed(futures))
    elapsed = time.perf_counter() - start
    assert total == n * (n - 1) // 2
    return elapsed


def measure(runs, fn):
    times = [fn() for _ in range(runs)]
    return min(times), statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    common = {
        "impl": "cpython",
        "python": platform.python_version(),
        "workers": args.workers,
        "runs": args.runs,
    }
    with ThreadPoolExecutor(max_workers=args.workers) as pool:
        submit_then_collect(pool, 1_000)  # start the workers
        best, median = measure(args.runs, lambda: submit_then_collect(pool, TASKS))
        print(json.dumps({
            "bench": "submit_collect_100k_tiny_tasks",
            **common,
            "tasks": TASKS,
            "best_s": round(best, 4),
            "median_s": round(median, 4),
            "tasks_per_s": round(TASKS / median, 1),
        }))
        for n in (10_000, 100_000):
            best, median = measure(args.runs, lambda: as_completed_drain(pool, n))
            print(json.dumps({
                "bench": f"as_completed_submit_and_drain_{n}",
                **common,
                "futures": n,
                "best_s": round(best, 4),
                "median_s": round(median, 4),
                "us_per_future": round(median / n * 1e6, 3),
            }))


if __name__ == "__main__":
    main()
