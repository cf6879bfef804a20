"""Informer cost: list-and-sync 10,000 small custom objects and apply 10,000 watch events,
next to a plain kubernetes_asyncio list of the same objects in the same run.

Each measured phase runs in its own process so peak RSS belongs to that phase alone:
  * plain:    ``CustomObjectsApi.list_namespaced_custom_object`` paginated at 500 (dicts);
  * informer: :class:`kaito.runtime.informer.Informer` until ``has_synced`` (list at RV "0",
              pages of 500, transform, store with the namespace index, one event handler),
              then N merge patches made by this process arrive as watch events; we time first
              to last event and the informer process's CPU for them.
Prints wall/CPU seconds, peak RSS and the informer/plain ratios.

    .venv/bin/python hack/bench/informer.py [--objects 10000]
Uses ``$KAITO_TESTENV_ATTACH`` (a ``kaito testenv up`` directory) or starts a control plane.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kaito.runtime.client import Client, ClientConfig
from kaito.runtime.resources import CUSTOM_RESOURCE_DEFINITION, NAMESPACE, ResourceType

ITEM = ResourceType("bench.kaito.sh", "v1", "BenchItem", "benchitems")
CRD = {
    "metadata": {"name": "benchitems.bench.kaito.sh"},
    "spec": {
        "group": "bench.kaito.sh",
        "scope": "Namespaced",
        "names": {"plural": "benchitems", "singular": "benchitem", "kind": "BenchItem"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": True,
                    }
                },
            }
        ],
    },
}


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- child phases ----------------------------------------------------------------------------
async def phase_plain(kubeconfig: str, namespace: str) -> dict[str, Any]:
    from kubernetes_asyncio import client as k8s
    from kubernetes_asyncio import config

    api_client = await config.new_client_from_config(config_file=kubeconfig)
    api = k8s.CustomObjectsApi(api_client)
    base = rss_mib()
    cpu0, t0 = time.process_time(), time.perf_counter()
    items: list[Any] = []
    token = None
    while True:
        page = await api.list_namespaced_custom_object(
            ITEM.group, ITEM.version, namespace, ITEM.plural, limit=500, _continue=token
        )
        items.extend(page["items"])
        token = page["metadata"].get("continue")
        if not token:
            break
    result = {
        "objects": len(items),
        "wall": time.perf_counter() - t0,
        "cpu": time.process_time() - cpu0,
        "rss_before": base,
        "rss_after": rss_mib(),
        "peak": peak_mib(),
    }
    await api_client.close()
    return result


async def phase_informer(kubeconfig: str, namespace: str, updates: int) -> dict[str, Any]:
    from kaito.runtime.informer import EventHandler, Informer

    client = await Client.from_kubeconfig(kubeconfig, config=ClientConfig(qps=0))
    informer = Informer(client, ITEM, namespace=namespace)
    seen = 0
    first = last = 0.0
    cpu_first = 0.0
    done = asyncio.Event()

    def on_update(old: dict[str, Any], new: dict[str, Any]) -> None:
        nonlocal seen, first, last, cpu_first
        if old is new:
            return
        seen += 1
        if seen == 1:
            first, cpu_first = time.perf_counter(), time.process_time()
        last = time.perf_counter()
        if seen >= updates:
            done.set()

    informer.add_event_handler(EventHandler(on_update=on_update))
    base = rss_mib()
    cpu0, t0 = time.process_time(), time.perf_counter()
    task = asyncio.ensure_future(informer.run())
    await informer.wait_for_sync(600)
    result: dict[str, Any] = {
        "objects": len(informer.store),
        "wall": time.perf_counter() - t0,
        "cpu": time.process_time() - cpu0,
        "rss_before": base,
        "rss_after": rss_mib(),
        "peak": peak_mib(),
    }
    print("READY", flush=True)
    await asyncio.wait_for(done.wait(), 900)
    result.update(
        events=seen,
        events_wall=last - first,
        events_cpu=time.process_time() - cpu_first,
        events_peak=peak_mib(),
    )
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await client.close()
    return result


# -- the driver ------------------------------------------------------------------------------
@contextlib.contextmanager
def kubeconfig() -> Iterator[Path]:
    attach = os.environ.get("KAITO_TESTENV_ATTACH")
    if attach:
        yield Path(attach) / "kubeconfig"
        return
    from kaito.testenv.controlplane import running_control_plane

    with tempfile.TemporaryDirectory() as workdir, running_control_plane(Path(workdir)) as plane:
        yield plane.kubeconfig


async def bounded(n: int, limit: int, make: Any) -> None:
    semaphore = asyncio.Semaphore(limit)

    async def one(i: int) -> None:
        async with semaphore:
            await make(i)

    await asyncio.gather(*(one(i) for i in range(n)))


async def drive(config_path: Path, objects: int) -> None:
    namespace = f"bench-{uuid.uuid4().hex[:6]}"
    async with await Client.from_kubeconfig(config_path, config=ClientConfig(qps=0)) as client:
        with contextlib.suppress(Exception):
            await client.create(CUSTOM_RESOURCE_DEFINITION, CRD)
        for _ in range(100):
            crd = await client.get(CUSTOM_RESOURCE_DEFINITION, CRD["metadata"]["name"])
            conditions = (crd.get("status") or {}).get("conditions") or []
            if any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
                break
            await asyncio.sleep(0.1)
        await client.create(NAMESPACE, {"metadata": {"name": namespace}})
        t0 = time.perf_counter()
        await bounded(
            objects,
            64,
            lambda i: client.create(
                ITEM,
                {
                    "metadata": {"name": f"item-{i:05d}", "namespace": namespace},
                    "spec": {"index": i, "payload": "x" * 64},
                },
            ),
        )
        print(f"created {objects:,} objects in {time.perf_counter() - t0:.1f}s (setup)")

        plain_child = await asyncio.create_subprocess_exec(
            *child_argv("plain", config_path, namespace, objects), stdout=subprocess.PIPE
        )
        plain = json.loads((await plain_child.communicate())[0])
        child = await asyncio.create_subprocess_exec(
            *child_argv("informer", config_path, namespace, objects), stdout=subprocess.PIPE
        )
        assert child.stdout is not None
        assert (await child.stdout.readline()).strip() == b"READY"
        t0 = time.perf_counter()
        await bounded(
            objects,
            64,
            lambda i: client.patch(ITEM, f"item-{i:05d}", {"spec": {"updated": True}}, namespace),
        )
        print(f"patched {objects:,} objects in {time.perf_counter() - t0:.1f}s (driver)")
        informer = json.loads((await child.communicate())[0])
        await client.delete(NAMESPACE, namespace)

    print(f"\nlist-and-sync of {objects:,} small custom objects (pages of 500):")
    for name, r in (("kubernetes_asyncio list", plain), ("kaito informer sync", informer)):
        print(
            f"  {name:24s} {r['wall']:6.2f}s wall {r['cpu']:6.2f}s CPU  holding the objects "
            f"+{r['rss_after'] - r['rss_before']:.0f} MiB RSS (after imports "
            f"{r['rss_before']:.0f} MiB), process peak {r['peak']:.0f} MiB, "
            f"objects={r['objects']:,}"
        )
    growth_informer = informer["rss_after"] - informer["rss_before"]
    growth_plain = max(1.0, plain["rss_after"] - plain["rss_before"])
    print(
        f"  ratio informer/plain: wall {informer['wall'] / plain['wall']:.2f}x, "
        f"CPU {informer['cpu'] / plain['cpu']:.2f}x, "
        f"RSS growth {growth_informer / growth_plain:.2f}x, "
        f"peak RSS {informer['peak'] / plain['peak']:.2f}x"
    )
    print(
        f"\n{informer['events']:,} watch events (MODIFIED) applied by the informer: "
        f"{informer['events_wall']:.2f}s first-to-last (paced by the writer), "
        f"{informer['events_cpu']:.2f}s informer CPU = "
        f"{informer['events'] / max(informer['events_cpu'], 1e-9):,.0f} events per CPU-second; "
        f"peak RSS {informer['events_peak']:.0f} MiB"
    )


def child_argv(phase: str, config_path: Path, namespace: str, objects: int) -> list[str]:
    return [
        sys.executable,
        __file__,
        f"--phase={phase}",
        f"--kubeconfig={config_path}",
        f"--namespace={namespace}",
        f"--objects={objects}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--phase", choices=("plain", "informer"))
    parser.add_argument("--kubeconfig")
    parser.add_argument("--namespace")
    args = parser.parse_args()
    if args.phase == "plain":
        print(json.dumps(asyncio.run(phase_plain(args.kubeconfig, args.namespace))))
    elif args.phase == "informer":
        result = asyncio.run(phase_informer(args.kubeconfig, args.namespace, args.objects))
        print(json.dumps(result))
    else:
        with kubeconfig() as path:
            asyncio.run(drive(path, args.objects))


if __name__ == "__main__":
    main()
