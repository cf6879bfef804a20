"""Host-wide slots: which real nodes this machine runs, whoever started them.

A node's bridge, ports, pod subnet and kube-proxy rules are host-wide, so the capacity of
the machine is counted across every provisioner and state directory on it (a test run next
to ``make run`` must not start a second node on the same bridge). Slot ``i`` is the file
``/run/kaito/nodes/<i>.json`` created exclusively; it names the node and its directory.
``/run`` is a tmpfs: a reboot, which also ends every node, frees every slot. A slot whose
node directory is gone (its state directory was deleted), or none of whose daemons runs any
more, is free again once it is older than :data:`CLAIM_GRACE`.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any

from kaito.provisioner.localnode.layout import RUN_DIR

SLOTS = RUN_DIR / "nodes"
CLAIM_GRACE = 120.0
"""Seconds a slot without a node record still counts as taken (the record follows it)."""


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


NODE_DAEMONS = frozenset({"containerd", "kubelet", "kube-proxy"})


def _runs(node_dir: Path) -> bool:
    """Whether any daemon of the node still runs (a node whose every process is gone, say
    after the session that started it was killed, holds no slot)."""
    for pidfile in (node_dir / "run").glob("*.pid"):
        try:
            exe = os.readlink(f"/proc/{int(pidfile.read_text().strip())}/exe")
        except (OSError, ValueError):
            continue
        if Path(exe.removesuffix(" (deleted)")).name in NODE_DAEMONS:
            return True
    return False


def held(root: Path = SLOTS) -> dict[int, dict[str, Any]]:
    """Live slots by index: ``{"name": ..., "dir": ...}``; stale ones are removed."""
    found: dict[int, dict[str, Any]] = {}
    if not root.is_dir():
        return found
    for path in root.glob("*.json"):
        if not path.stem.isdigit():
            continue
        data = _read(path)
        node_dir = Path(str((data or {}).get("dir", "")))
        if data is not None and (node_dir / "claim.json").exists() and _runs(node_dir):
            found[int(path.stem)] = data
            continue
        try:
            age = time.time() - path.stat().st_mtime
        except OSError:
            continue
        if age > CLAIM_GRACE:  # its node directory is gone: the slot is free again
            path.unlink(missing_ok=True)
        else:  # being claimed right now: the node record follows within moments
            found[int(path.stem)] = data or {"name": "?", "dir": ""}
    return found


def claim(name: str, node_dir: Path, capacity: int, root: Path = SLOTS) -> int | None:
    """Take the lowest free slot for ``name``; None when ``capacity`` slots are taken."""
    root.mkdir(parents=True, exist_ok=True)
    for data_index, data in held(root).items():
        if data.get("dir") == str(node_dir):
            return data_index
    for index in range(capacity):
        path = root / f"{index}.json"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            continue
        with os.fdopen(fd, "w") as out:
            json.dump({"name": name, "dir": str(node_dir)}, out)
        return index
    return None


def reclaim(index: int, name: str, node_dir: Path, root: Path = SLOTS) -> bool:
    """Hold slot ``index`` for a recorded node again (a node being adopted or revived whose
    slot went stale); False when another node holds it now."""
    root.mkdir(parents=True, exist_ok=True)
    current = held(root).get(index)
    if current is not None:
        return current.get("dir") == str(node_dir)
    path = root / f"{index}.json"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        data = _read(path)
        return data is not None and data.get("dir") == str(node_dir)
    with os.fdopen(fd, "w") as out:
        json.dump({"name": name, "dir": str(node_dir)}, out)
    return True


def release(index: int, node_dir: Path, root: Path = SLOTS) -> None:
    """Give the slot back, if it is still this node's."""
    path = root / f"{index}.json"
    data = _read(path)
    if data is not None and data.get("dir") == str(node_dir):
        path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        root.rmdir()
        root.parent.rmdir()
