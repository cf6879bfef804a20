"""Work-queue throughput: adds + gets per second with 8 workers and 100k keys, heavily duplicated.

Producers add 1,000,000 keys drawn from 100,000 (so most adds hit an item that is already
queued or being processed and are deduplicated); 8 workers get/done as fast as they can,
yielding to the loop once per item as a real reconcile would. Prints the numbers.

    .venv/bin/python hack/bench/workqueue.py [--adds N] [--keys K] [--workers W]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import time

from kaito.runtime import metrics
from kaito.runtime.workqueue import QueueShutDown, WorkQueue


async def run(adds: int, keys: int, workers: int, with_metrics: bool) -> dict[str, float]:
    queue: WorkQueue[int] = WorkQueue(
        "bench", metrics=metrics.queue_metrics("bench") if with_metrics else None
    )
    rng = random.Random(42)
    stream = [rng.randrange(keys) for _ in range(adds)] if adds != keys else list(range(keys))
    processed = 0

    async def worker() -> None:
        nonlocal processed
        while True:
            try:
                item = await queue.get()
            except QueueShutDown:
                return
            await asyncio.sleep(0)  # a reconcile yields at least once
            processed += 1
            queue.done(item)

    async def producer() -> None:
        for start in range(0, adds, 1000):
            for key in stream[start : start + 1000]:
                queue.add(key)
            await asyncio.sleep(0)

    tasks = [asyncio.ensure_future(worker()) for _ in range(workers)]
    cpu0, t0 = time.process_time(), time.perf_counter()
    await producer()
    while len(queue) or queue.processing:  # noqa: ASYNC110 (busy-wait is the measurement)
        await asyncio.sleep(0)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    queue.shut_down()
    await asyncio.gather(*tasks)
    return {
        "adds": adds,
        "gets": processed,
        "elapsed": elapsed,
        "cpu": cpu,
        "ops_per_s": (adds + processed) / elapsed,
        "adds_per_s": adds / elapsed,
        "gets_per_s": processed / elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adds", type=int, default=1_000_000)
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    for adds, keys in ((args.adds, args.keys), (args.keys, args.keys)):
        kind = "random keys, heavy duplication" if adds != keys else "every key once"
        print(f"work queue: {adds:,} adds over {keys:,} keys ({kind}), {args.workers} workers")
        for with_metrics in (False, True):
            report(asyncio.run(run(adds, keys, args.workers, with_metrics)), with_metrics)
    print(f"  peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


def report(r: dict[str, float], with_metrics: bool) -> None:
    print(
        f"  metrics={'on ' if with_metrics else 'off'}  {r['elapsed']:.2f}s wall "
        f"({r['cpu']:.2f}s CPU): {r['gets']:,.0f} gets (dedup "
        f"{1 - r['gets'] / r['adds']:.1%}), {r['adds_per_s']:,.0f} adds/s, "
        f"{r['gets_per_s']:,.0f} gets/s, {r['ops_per_s']:,.0f} adds+gets/s"
    )


if __name__ == "__main__":
    main()
