"""The long-running processes of a local node, recorded in pid files.

Each daemon (containerd, kubelet, kube-proxy) is started in its own session with its output
in the node's log directory, so it outlives the provisioner that started it. A pid file
names it; a pid counts as the daemon only while ``/proc/<pid>/exe`` is still the daemon's
binary (pids are recycled), which is how a restarted provisioner adopts a running node
instead of starting a second copy.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import subprocess
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import attrs


def _exe(pid: int) -> Path | None:
    try:
        return Path(os.readlink(f"/proc/{pid}/exe").removesuffix(" (deleted)"))
    except OSError:
        return None


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


async def wait_until(done: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll ``done`` until it is true (True) or ``timeout`` seconds pass (False)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    for _ in itertools.count():
        if done():
            return True
        if loop.time() > deadline:
            break
        await asyncio.sleep(interval)
    return False


def _reap(pid: int) -> None:
    """Collect the exit status of a daemon this process started (no zombie left)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _argv(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


@attrs.frozen
class Daemon:
    """One node process: ``argv[0]`` is its binary, ``pidfile`` and ``log`` its files."""

    name: str
    argv: tuple[str, ...] = attrs.field(converter=_argv)
    pidfile: Path
    log: Path

    @property
    def binary(self) -> Path:
        return Path(self.argv[0])

    def pid(self) -> int | None:
        """The running daemon's pid, or None when it is not running."""
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        if _exe(pid) != self.binary or _is_zombie(pid):
            return None
        return pid

    def start(self, env: dict[str, str] | None = None) -> int:
        """Start the daemon unless it runs already; return its pid."""
        if (pid := self.pid()) is not None:
            return pid
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.pidfile.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            proc = subprocess.Popen(
                self.argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env={**os.environ, **(env or {})},
            )
        self.pidfile.write_text(f"{proc.pid}\n")
        return proc.pid

    def exited(self) -> bool:
        """True when a started daemon is no longer running (it died)."""
        return self.pid() is None

    async def stop(self, grace: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds; a no-op when it is not running."""
        pid = self.pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            if not await wait_until(lambda: self.pid() is None, grace):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                await wait_until(lambda: self.pid() is None, 30.0)
            _reap(pid)
        self.pidfile.unlink(missing_ok=True)

    def log_tail(self, lines: int = 5) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(line[:400] for line in text.splitlines()[-lines:])


def processes_with_argument(text: str) -> Sequence[int]:
    """Pids whose command line contains ``text`` (the shims of one containerd socket)."""
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if text.encode() in cmdline:
            found.append(int(entry.name))
    return found
