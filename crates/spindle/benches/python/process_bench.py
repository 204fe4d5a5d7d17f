"""CPython's ProcessPoolExecutor on the work of crates/spindle/benches/process.rs.

    python3 crates/spindle/benches/python/process_bench.py

Prints, for each case, the best of several interleaved runs: tasks per second for the
tiny-task cases, seconds for the CPU-bound classic (the sum of 0..10**7, four times,
sequential and on 2 workers). examples/process_ratios.rs prints the same table for
spindle.
"""

import time
from concurrent.futures import ProcessPoolExecutor

MAP_ITEMS = 2_000
N = 10_000_000
REPEATS = 4


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


def round_trips(pool, count):
    x = 0
    for _ in range(count):
        x = pool.submit(add_one, x).result()
    assert x == count


def mapped(pool, chunksize):
    total = sum(pool.map(add_one, range(MAP_ITEMS), chunksize=chunksize))
    assert total == MAP_ITEMS * (MAP_ITEMS + 1) // 2


def main():
    """Each case is the best of several interleaved runs, as examples/process_ratios.rs."""
    count = 2_000
    with ProcessPoolExecutor(max_workers=2) as pool:
        mapped(pool, 1)  # start the workers before timing
        best = [float("inf")] * 3
        for _ in range(7):
            runs = (
                timed(lambda: round_trips(pool, count)),
                timed(lambda: mapped(pool, 1)),
                timed(lambda: mapped(pool, 100)),
            )
            best = [min(b, r) for b, r in zip(best, runs)]
        print(f"round_trip_tiny      {count / best[0]:12.0f} tasks/s")
        print(f"map chunksize 1      {MAP_ITEMS / best[1]:12.0f} tasks/s")
        print(f"map chunksize 100    {MAP_ITEMS / best[2]:12.0f} tasks/s")

        sequential = parallel = float("inf")
        for _ in range(3):
            sequential = min(sequential, timed(lambda: [sum_below(N) for _ in range(REPEATS)]))
            parallel = min(parallel, timed(lambda: list(pool.map(sum_below, [N] * REPEATS))))
    print(f"cpu_bound sequential {sequential:12.3f} s")
    print(f"cpu_bound 2 workers  {parallel:12.3f} s  (ratio {parallel / sequential:.2f})")


if __name__ == "__main__":
    main()
