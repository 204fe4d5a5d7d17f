"""CPython's ProcessPoolExecutor(2) on the work of crates/spindle/benches/process.rs.

    python3 crates/spindle/benches/python/process_bench.py          # a table
    python3 crates/spindle/benches/python/process_bench.py --json   # for process_ratios

`cargo run --release -p spindle --example process_ratios` runs this script between
its own runs of the same cases and prints the ratios side by side; the criterion
bench (`cargo bench -p spindle --bench process`) runs it after its own measurements.

Each case is the best of several runs (the minimum resists the noise of other
processes better than a mean):
- round_trip: one tiny task at a time, submit then result, tasks per second;
- map_1: map over 2,000 items with chunksize 1, tasks per second;
- burst: 2,000 submits at once, then each result collected, tasks per second;
- map_100: map over 2,000 items with chunksize 100, tasks per second;
- cpu_sequential and cpu_2_workers: the CPU-bound classic (the sum of 0..10**7, four
  times; over a second of work in CPython) in this process, then on 2 workers, seconds.
"""

import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor

ITEMS = 2_000
N = 10_000_000
REPEATS = 4
TINY_RUNS = 5
CPU_RUNS = 2


def add_one(x):
    return x + 1


def sum_below(n):
    total = 0
    for i in range(n):
        total += i
    return total


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def round_trips(pool):
    x = 0
    for _ in range(ITEMS):
        x = pool.submit(add_one, x).result()
    assert x == ITEMS


def mapped(pool, chunksize):
    total = sum(pool.map(add_one, range(ITEMS), chunksize=chunksize))
    assert total == ITEMS * (ITEMS + 1) // 2


def burst(pool):
    futures = [pool.submit(add_one, x) for x in range(ITEMS)]
    total = sum(f.result() for f in futures)
    assert total == ITEMS * (ITEMS + 1) // 2


def measure():
    """Each case's best time, in seconds."""
    best = {}

    def keep(name, seconds):
        best[name] = min(best.get(name, float("inf")), seconds)

    with ProcessPoolExecutor(max_workers=2) as pool:
        mapped(pool, 1)  # start the workers before timing
        for _ in range(TINY_RUNS):
            keep("round_trip", timed(lambda: round_trips(pool)))
            keep("map_1", timed(lambda: mapped(pool, 1)))
            keep("burst", timed(lambda: burst(pool)))
            keep("map_100", timed(lambda: mapped(pool, 100)))
        for _ in range(CPU_RUNS):
            keep("cpu_sequential", timed(lambda: [sum_below(N) for _ in range(REPEATS)]))
            keep("cpu_2_workers", timed(lambda: list(pool.map(sum_below, [N] * REPEATS))))
    return best


def main():
    best = measure()
    if "--json" in sys.argv:
        print(json.dumps(best))
        return
    for name in ("round_trip", "map_1", "burst", "map_100"):
        print(f"{name:<16} {ITEMS / best[name]:12.0f} tasks/s")
    sequential, parallel = best["cpu_sequential"], best["cpu_2_workers"]
    print(f"cpu_sequential   {sequential:12.3f} s")
    print(f"cpu_2_workers    {parallel:12.3f} s  ({parallel / sequential:.2f} of sequential)")


if __name__ == "__main__":
    main()
