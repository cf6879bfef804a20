"""The persistent local OCI registry that kaito's images are pushed to and pulled from.

A real local kubelet/containerd (and the pods it runs) needs a registry to pull kaito's
images from, and nothing on docker.io/mcr can be reached here, so images are built locally
(``hack/images/build.sh``) and pushed to this one: the CNCF distribution registry built by
``hack/registry/build.sh``, with filesystem storage so that its content survives restarts
(a warm run neither rebuilds nor pushes anything) and deletes enabled.

It listens on the *kaito host address* ``10.245.0.1`` (a ``/32`` on ``lo``) rather than on
``127.0.0.1``: loopback inside a pod's network namespace is the pod's own, while an address
on the host's ``lo`` is reachable from pods through their default route and still never
leaves the machine. Plain HTTP only, for the same reason.

The registry runs detached (its own session), so it outlives ``kaito testenv registry up``;
later calls adopt it through its pidfile instead of starting a second one.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import attrs

from kaito.testenv.binaries import repo_root

HOST_ADDRESS = "10.245.0.1"
"""The kaito host address: pods reach the host (and its registry) through it."""
HOST_INTERFACE = "lo"
REGISTRY_PORT = 5000
REGISTRY = f"{HOST_ADDRESS}:{REGISTRY_PORT}"
"""``host:port`` of the local registry, as image references spell it."""

_MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    )
)


class HostAddressError(RuntimeError):
    """The kaito host address is missing and cannot be added (not root, no ``ip``, ...)."""


class RegistryError(RuntimeError):
    """The registry did not start or does not answer; the message names its log."""


# -- the kaito host address ----------------------------------------------------------------
def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    ip = shutil.which("ip") or next(
        (p for p in ("/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip") if Path(p).exists()), None
    )
    if ip is None:
        raise HostAddressError(
            "the `ip` command (Debian package iproute2) is needed to manage the kaito host "
            f"address {HOST_ADDRESS}/32 on {HOST_INTERFACE}"
        )
    return subprocess.run([ip, *args], capture_output=True, text=True, check=False)


def host_address_present() -> bool:
    """True when ``10.245.0.1/32`` is configured on ``lo``."""
    out = _ip("-o", "-4", "addr", "show", "dev", HOST_INTERFACE)
    if out.returncode != 0:
        raise HostAddressError(f"`ip addr show dev {HOST_INTERFACE}` failed: {out.stderr.strip()}")
    return any(
        f"inet {HOST_ADDRESS}/" in line and line.split()[1] == HOST_INTERFACE
        for line in out.stdout.splitlines()
    )


def ensure_host_address() -> bool:
    """Put the kaito host address on ``lo`` unless it is there; True when it was added.

    Idempotent. Adding needs root (CAP_NET_ADMIN); without it the error says the one
    command that would fix it, so nothing fails later with a bare "cannot assign address".
    """
    if host_address_present():
        return False
    command = f"ip addr add {HOST_ADDRESS}/32 dev {HOST_INTERFACE}"
    if os.geteuid() != 0:
        raise HostAddressError(
            f"the kaito host address {HOST_ADDRESS}/32 is not on {HOST_INTERFACE} and adding "
            f"it needs root: run `sudo {command}`"
        )
    out = _ip("addr", "add", f"{HOST_ADDRESS}/32", "dev", HOST_INTERFACE)
    if out.returncode != 0 and not host_address_present():
        raise HostAddressError(f"`{command}` failed: {out.stderr.strip()}")
    return out.returncode == 0


def remove_host_address() -> bool:
    """Take the kaito host address off ``lo``; True when it was there."""
    if not host_address_present():
        return False
    out = _ip("addr", "del", f"{HOST_ADDRESS}/32", "dev", HOST_INTERFACE)
    if out.returncode != 0 and host_address_present():
        raise HostAddressError(
            f"`ip addr del {HOST_ADDRESS}/32 dev {HOST_INTERFACE}` failed: {out.stderr.strip()}"
            + (" (needs root)" if os.geteuid() != 0 else "")
        )
    return True


# -- locations -----------------------------------------------------------------------------
def default_data_dir() -> Path:
    """Blobs and manifests: a cache (rebuildable), so under ``$XDG_CACHE_HOME``."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "kaito" / "registry" / "data"


def default_state_dir() -> Path:
    """pidfile, log and state of the running registry, under ``$XDG_STATE_HOME``."""
    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return state / "kaito" / "registry"


def build_script() -> Path:
    return repo_root() / "hack" / "registry" / "build.sh"


def build_registry() -> Path:
    """Path of the registry binary, building it first when missing (Go; ~2 minutes cold)."""
    out = subprocess.run(["bash", str(build_script())], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RegistryError(f"{build_script()} failed:\n{out.stderr.strip()}")
    return Path(out.stdout.strip().splitlines()[-1])


# -- the registry --------------------------------------------------------------------------
@attrs.frozen
class RegistryStatus:
    """What ``kaito testenv registry status`` prints."""

    running: bool
    pid: int | None
    address: str
    host_address: bool
    data_dir: Path
    data_bytes: int
    repositories: tuple[str, ...]


@attrs.define
class LocalRegistry:
    """The distribution registry on ``10.245.0.1:5000`` with its data in ``data_dir``.

    ``ensure()`` starts it, or adopts the one a previous call started (same pidfile, same
    data directory, ``/v2/`` answering). ``stop()`` ends that process and only that one.
    """

    data_dir: Path = attrs.field(factory=default_data_dir)
    state_dir: Path = attrs.field(factory=default_state_dir)
    host: str = HOST_ADDRESS
    port: int = REGISTRY_PORT

    # -- paths -------------------------------------------------------------------------
    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "registry.pid"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "registry.log"

    @property
    def state_file(self) -> Path:
        return self.state_dir / "state.json"

    # -- process -----------------------------------------------------------------------
    def _argv(self, binary: Path) -> list[str]:
        return [
            str(binary),
            "-storage=filesystem",
            f"-root={self.data_dir}",
            "-delete",
            "-log-level=warn",
            self.address,
        ]

    def _is_ours(self, pid: int) -> bool:
        """True when ``pid`` is a registry serving this data dir on this address.

        Compared on the command line, not only the pid, so a recycled pid is never
        mistaken for the registry (and never signalled).
        """
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        args = [a.decode(errors="replace") for a in argv if a]
        return (
            bool(args)
            and Path(args[0]).name == "registry"
            and f"-root={self.data_dir}" in args
            and self.address in args
            and _alive(pid)
        )

    def pid(self) -> int | None:
        """The running registry's pid from the pidfile, or None when it is not running."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if self._is_ours(pid) else None

    def answers(self, timeout: float = 2) -> bool:
        """True when ``GET /v2/`` answers 200: the registry API is up."""
        try:
            with urllib.request.urlopen(f"{self.url}/v2/", timeout=timeout) as resp:
                return bool(resp.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def running(self) -> bool:
        return self.pid() is not None and self.answers()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One start/stop at a time across processes (a build and a test may race)."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with (self.state_dir / "lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def ensure(self, timeout: float = 30) -> bool:
        """Make sure the registry runs and answers; True when this call started it.

        Adds the kaito host address when missing (root), builds the binary when missing,
        and fails with the log's path when the registry exits or never answers.
        """
        with self._locked():
            ensure_host_address()
            pid = self.pid()
            if pid is not None:
                if self._wait_answering(pid, timeout):
                    return False
                self._stop_pid(pid, grace=10)
            elif self.answers():
                raise RegistryError(
                    f"something that is not this registry already serves {self.url}/v2/ "
                    f"(no live pid in {self.pid_file}); stop it first"
                )
            self._start(build_registry(), timeout)
            return True

    def _start(self, binary: Path, timeout: float) -> None:
        """Start the registry (lock held, nothing serving) and wait for ``/v2/``."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            proc = subprocess.Popen(
                self._argv(binary),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.state_dir,
                start_new_session=True,
            )
        self.pid_file.write_text(f"{proc.pid}\n")
        self.state_file.write_text(
            json.dumps(
                {
                    "pid": proc.pid,
                    "binary": str(binary),
                    "address": self.address,
                    "data_dir": str(self.data_dir),
                    "started": time.time(),
                },
                indent=2,
            )
        )
        deadline = time.monotonic() + timeout
        while not self.answers(timeout=1):
            if proc.poll() is not None:
                raise RegistryError(
                    f"the registry exited with code {proc.returncode}; see {self.log_file}"
                )
            if time.monotonic() > deadline:
                self._stop_pid(proc.pid, grace=5)
                raise RegistryError(
                    f"the registry did not answer {self.url}/v2/ within {timeout:.0f}s; "
                    f"see {self.log_file}"
                )
            time.sleep(0.1)

    def collect_garbage(self, timeout: float = 30) -> int:
        """Delete untagged manifests and unreferenced blobs; returns the bytes freed.

        distribution collects garbage only while nothing serves the directory, so a running
        registry is stopped for the few seconds this takes (pulls in flight then fail and
        are retried by their clients) and started again.
        """
        with self._locked():
            binary = build_registry()
            pid = self.pid()
            if pid is not None:
                self._stop_pid(pid, grace=10)
            before = _tree_bytes(self.data_dir)
            try:
                if self.data_dir.is_dir():
                    out = subprocess.run(
                        [str(binary), "-gc", f"-root={self.data_dir}"],
                        capture_output=True,
                        text=True,
                        check=False,
                    )
                    if out.returncode != 0:
                        raise RegistryError(f"registry -gc failed: {out.stderr.strip()}")
            finally:
                if pid is not None:
                    self._start(binary, timeout)
            return before - _tree_bytes(self.data_dir)

    def _wait_answering(self, pid: int, timeout: float) -> bool:
        """An adopted registry may have been started a moment ago: give it ``timeout``."""
        deadline = time.monotonic() + timeout
        while self._is_ours(pid):
            if self.answers(timeout=1):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return False

    def stop(self, grace: float = 10) -> bool:
        """Stop the registry this pidfile names; True when one was running. Data stays."""
        with self._locked():
            pid = self.pid()
            if pid is not None:
                self._stop_pid(pid, grace)
            self.pid_file.unlink(missing_ok=True)
            return pid is not None

    def _stop_pid(self, pid: int, grace: float) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and _alive(pid):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.05)
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)

    # -- registry API ------------------------------------------------------------------
    def _get_json(self, path: str) -> dict[str, object]:
        with urllib.request.urlopen(f"{self.url}{path}", timeout=10) as resp:
            body: dict[str, object] = json.load(resp)
            return body

    def repositories(self) -> tuple[str, ...]:
        """Every repository in the registry (``/v2/_catalog``)."""
        repos = self._get_json("/v2/_catalog?n=1000").get("repositories")
        return tuple(str(r) for r in repos) if isinstance(repos, list) else ()

    def tags(self, repository: str) -> tuple[str, ...]:
        try:
            tags = self._get_json(f"/v2/{repository}/tags/list").get("tags")
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return ()
            raise
        return tuple(str(t) for t in tags) if isinstance(tags, list) else ()

    def has_manifest(self, repository: str, reference: str) -> bool:
        """True when ``repository:reference`` is pushed (``HEAD`` on its manifest)."""
        return self.manifest_digest(repository, reference) is not None

    def manifest_digest(self, repository: str, reference: str) -> str | None:
        """The digest ``repository:reference`` resolves to, or None when it is not pushed."""
        request = urllib.request.Request(
            f"{self.url}/v2/{repository}/manifests/{reference}",
            method="HEAD",
            headers={"Accept": _MANIFEST_TYPES},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                digest: str | None = resp.headers.get("Docker-Content-Digest")
                return digest
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise

    def delete_manifest(self, repository: str, digest: str) -> None:
        """Delete a manifest (and every tag that names it); its blobs go at the next GC."""
        request = urllib.request.Request(
            f"{self.url}/v2/{repository}/manifests/{digest}", method="DELETE"
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as resp:
                status = resp.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        if status != 202:
            raise RegistryError(f"DELETE {repository}@{digest}: HTTP {status}")

    def status(self) -> RegistryStatus:
        pid = self.pid()
        running = pid is not None and self.answers()
        return RegistryStatus(
            running=running,
            pid=pid,
            address=self.address,
            host_address=host_address_present(),
            data_dir=self.data_dir,
            data_bytes=_tree_bytes(self.data_dir),
            repositories=self.repositories() if running else (),
        )


def _tree_bytes(root: Path) -> int:
    """Bytes of the regular files under ``root`` (0 when it does not exist)."""
    total = 0
    if root.is_dir():
        for path in root.rglob("*"):
            with contextlib.suppress(OSError):
                if path.is_file() and not path.is_symlink():
                    total += path.stat().st_size
    return total


def _alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    return True


def image_ref(name: str, tag: str) -> str:
    """``10.245.0.1:5000/kaito/<name>:<tag>``: how every local kaito image is named."""
    return f"{REGISTRY}/kaito/{name}:{tag}"
