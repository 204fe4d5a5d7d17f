"""CPython's queue.Queue on the workloads of spindle's `benches/queue.rs`.

Moves ITEMS integers from producer threads to consumer threads through
queue.Queue(maxsize=1024) and queue.Queue(), and prints one JSON line per workload:

    {"bench": "queue_1p1c_bounded_1024", "impl": "cpython", "python": "3.13.0",
     "items": 1000000, "runs": 3, "best_s": 2.1, "median_s": 2.2, "mops": 0.45}

`mops` is millions of items per second over the median run, as criterion's
throughput for the Rust side. Usage: python3 queue_bench.py [--items N] [--runs R]
"""

import argparse
import json
import platform
import queue
import statistics
import threading
import time

CAPACITY = 1024


def transfer(producers, consumers, maxsize, items):
    """Seconds from when every thread is ready until the last item is received."""
    q = queue.Queue(maxsize=maxsize)
    ready = threading.Barrier(producers + consumers + 1)
    per_producer = items // producers
    per_consumer = items // consumers
    totals = []

    def produce(p):
        ready.wait()
        put = q.put
        for i in range(p * per_producer, (p + 1) * per_producer):
            put(i)

    def consume():
        ready.wait()
        get = q.get
        totals.append(sum(get() for _ in range(per_consumer)))

    threads = [threading.Thread(target=produce, args=(p,)) for p in range(producers)]
    receivers = [threading.Thread(target=consume) for _ in range(consumers)]
    for t in threads + receivers:
        t.start()
    ready.wait()
    start = time.perf_counter()
    for r in receivers:
        r.join()
    elapsed = time.perf_counter() - start
    for t in threads:
        t.join()
    assert sum(totals) == items * (items - 1) // 2, "every item arrives once"
    return elapsed


WORKLOADS = [
    ("queue_1p1c_bounded_1024", 1, 1, CAPACITY),
    ("queue_1p1c_unbounded", 1, 1, 0),
    ("queue_4p4c_bounded_1024", 4, 4, CAPACITY),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    for name, producers, consumers, maxsize in WORKLOADS:
        times = [transfer(producers, consumers, maxsize, args.items) for _ in range(args.runs)]
        median = statistics.median(times)
        print(json.dumps({
            "bench": name,
            "impl": "cpython",
            "python": platform.python_version(),
            "items": args.items,
            "runs": args.runs,
            "best_s": round(min(times), 4),
            "median_s": round(median, 4),
            "mops": round(args.items / median / 1e6, 4),
        }), flush=True)


if __name__ == "__main__":
    main()
