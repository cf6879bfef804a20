"""Build kaito's container images and push them to the local registry (10.245.0.1:5000).

Run through ``hack/images/build.sh`` (or ``make images`` when no docker/podman answers).

Where no Docker engine runs, the images are built with buildah (its own storage under
``~/.cache/kaito/buildah``) FROM bases of our own: nothing from docker.io can be pulled
here, so ``debootstrap`` makes a Debian bookworm root filesystem (cached as a tarball under
``~/.cache/kaito/images``, keyed by its inputs) that ``buildah from scratch`` turns into
``localhost/kaito/base-python`` (python3 3.11 + pip) and ``localhost/kaito/base-slim``.
The Dockerfiles in docker/ take that base as ``--build-arg BASE``; with docker or podman
they keep their default public bases.

Every tag is content-addressed, ``<version>-<first 12 hex of sha256 of the inputs>`` (the
Dockerfile, every file of the build context, the base and the build arguments that shape
the result), so an unchanged image is found in the registry and skipped, and a changed
one gets a new tag that a kubelet with ``imagePullPolicy: IfNotPresent`` pulls.

The references are written to ``~/.cache/kaito/images/images.env``
(``KAITO_OPERATOR_IMAGE=...`` and so on) for whatever deploys them.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import attrs

from kaito.testenv.registry import (
    REGISTRY,
    HostAddressError,
    LocalRegistry,
    RegistryError,
    image_ref,
)

REPO = Path(__file__).resolve().parents[2]
SUITE = "bookworm"
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
"""The host's CA bundle: TLS egress here is intercepted by a CA only the host trusts."""
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
ENV_NAMES = {
    "kaito-operator": "KAITO_OPERATOR_IMAGE",
    "kaito-inference": "KAITO_INFERENCE_IMAGE",
    "kaito-tuning": "KAITO_TUNING_IMAGE",
    "kaito-puller": "KAITO_PULLER_IMAGE",
    "pause": "KAITO_PAUSE_IMAGE",
}


def cache_home() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")


def images_cache() -> Path:
    """Bases, wheelhouse, staged contexts and images.env (KAITO_IMAGES_CACHE overrides)."""
    override = os.environ.get("KAITO_IMAGES_CACHE")
    return Path(override) if override else cache_home() / "kaito" / "images"


def buildah_root() -> Path:
    """buildah's own storage (KAITO_BUILDAH_ROOT overrides): never the system's."""
    override = os.environ.get("KAITO_BUILDAH_ROOT")
    return Path(override) if override else cache_home() / "kaito" / "buildah"


def env_file() -> Path:
    return images_cache() / "images.env"


class BuildError(RuntimeError):
    """A step failed; the message says which and where its output is."""


def run(argv: Sequence[str], *, stdout: int | None = None) -> None:
    """Run a command with its output on the terminal (buildah's progress is worth seeing)."""
    code = subprocess.run(argv, stdout=stdout, check=False).returncode
    if code != 0:
        raise BuildError(f"`{' '.join(argv[:4])} ...` failed with exit code {code}")


def capture(argv: Sequence[str]) -> str:
    """Run a command and return its stdout; its stderr is in the error when it fails."""
    out = subprocess.run(argv, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise BuildError(f"`{' '.join(argv)}` failed ({out.returncode}):\n{out.stderr}")
    return out.stdout


def log(message: str) -> None:
    print(f">> {message}", file=sys.stderr, flush=True)


def human(size: int | None) -> str:
    if size is None:
        return "-"
    if size < 2**20:
        return f"{size / 2**10:.1f} KiB"
    if size < 2**30:
        return f"{size / 2**20:.1f} MiB"
    return f"{size / 2**30:.2f} GiB"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# -- Debian bases (buildah only) -------------------------------------------------------------
SLIM_ROOTFS = r"""
set -eu
cd "$1"
rm -rf var/cache/apt/archives/*.deb var/cache/apt/archives/partial/* var/cache/apt/*.bin \
  var/lib/apt/lists/* var/log/* var/cache/debconf/*-old var/lib/dpkg/*-old \
  usr/share/man/* usr/share/info/* usr/share/locale/* usr/share/lintian \
  dev/* proc/* sys/* run/* tmp/* etc/resolv.conf etc/hostname etc/machine-id
find usr/share/doc -mindepth 1 ! -type d ! -name copyright -delete
find usr/share/doc -mindepth 1 -type d -empty -delete
: > etc/machine-id
# Like the python image: pip installs into /usr/local without --break-system-packages.
rm -f usr/lib/python3*/EXTERNALLY-MANAGED
cat > etc/dpkg/dpkg.cfg.d/01-kaito-slim <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
EOF
cat > etc/apt/apt.conf.d/01-kaito-slim <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
EOF
cat > etc/apt/sources.list <<EOF
deb http://deb.debian.org/debian $2 main
deb http://deb.debian.org/debian $2-updates main
deb http://deb.debian.org/debian-security $2-security main
EOF
"""
"""Shrinks the debootstrap'ed tree (apt caches and lists, docs, man pages, locales)."""

BASE_CONFIG = (
    "--env=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "--env=LANG=C.UTF-8",
    '--cmd=["/bin/bash"]',
)


@attrs.frozen
class Base:
    """A debootstrap'ed Debian root filesystem committed as a buildah image."""

    name: str
    packages: tuple[str, ...]

    @property
    def key(self) -> str:
        inputs = json.dumps(
            {
                "suite": SUITE,
                "variant": "minbase",
                "packages": self.packages,
                "slim": SLIM_ROOTFS,
                "config": BASE_CONFIG,
            },
            sort_keys=True,
        )
        return hashlib.sha256(inputs.encode()).hexdigest()[:12]

    @property
    def ref(self) -> str:
        return f"localhost/kaito/base-{self.name}:{self.key}"

    @property
    def tarball(self) -> Path:
        return images_cache() / f"base-{self.name}-{SUITE}-{self.key}.tar"


BASES = {
    "python": Base("python", ("python3", "python3-pip", "python-is-python3", "ca-certificates")),
    "slim": Base("slim", ("ca-certificates",)),
}


def debian_mirror() -> str:
    """The host's Debian mirror (deb822 sources first), the one apt already reaches."""
    for path in (Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list")):
        with contextlib.suppress(OSError):
            for line in path.read_text().splitlines():
                words = line.split()
                if words[:1] == ["URIs:"] and len(words) > 1:
                    return words[1]
                if words[:1] == ["deb"] and len(words) > 2:
                    return next(w for w in words[1:] if not w.startswith("["))
    return "http://deb.debian.org/debian"


def rootfs_tarball(base: Base) -> Path:
    """The cached root filesystem of ``base``, made with debootstrap when missing (~1-3 min)."""
    if base.tarball.exists():
        return base.tarball
    if os.geteuid() != 0:
        raise BuildError("debootstrap needs root to build the Debian base image")
    images_cache().mkdir(parents=True, exist_ok=True)
    staging = images_cache() / f".rootfs-{base.name}-{base.key}"
    if staging.exists():
        shutil.rmtree(staging)
    started = time.monotonic()
    log(f"debootstrap {SUITE} ({', '.join(base.packages)}) into {staging}")
    logfile = images_cache() / f"debootstrap-{base.name}.log"
    with logfile.open("w") as out:
        code = subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(base.packages)}",
                SUITE,
                str(staging),
                debian_mirror(),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        ).returncode
    if code != 0:
        raise BuildError(f"debootstrap failed ({code}); see {logfile}")
    run(["sh", "-c", SLIM_ROOTFS, "slim", str(staging), SUITE])
    partial = base.tarball.with_suffix(".tar.partial")
    run(
        [
            "tar",
            "--numeric-owner",
            "--xattrs",
            "--xattrs-include=*",
            "-C",
            str(staging),
            "-cf",
            str(partial),
            ".",
        ]
    )
    partial.rename(base.tarball)
    shutil.rmtree(staging)
    size = human(base.tarball.stat().st_size)
    log(f"base {base.name}: {size} in {time.monotonic() - started:.0f}s")
    return base.tarball


# -- engines ---------------------------------------------------------------------------------
@attrs.frozen
class Buildah:
    """buildah with its own storage under ~/.cache/kaito/buildah (overlay driver)."""

    root: Path = attrs.field(factory=buildah_root)

    name = "buildah"

    def argv(self, *args: str) -> list[str]:
        return [
            "buildah",
            f"--root={self.root / 'storage'}",
            f"--runroot={self.root / 'run'}",
            "--storage-driver=overlay",
            *args,
        ]

    def has_image(self, ref: str) -> bool:
        return (
            subprocess.run(
                self.argv("inspect", "--type=image", ref), capture_output=True, check=False
            ).returncode
            == 0
        )

    def ensure_base(self, base: Base) -> str:
        """``localhost/kaito/base-<name>:<key>`` in buildah's storage, imported when missing."""
        if self.has_image(base.ref):
            return base.ref
        tarball = rootfs_tarball(base)
        log(f"importing {tarball.name} as {base.ref}")
        container = capture(self.argv("from", "--pull=never", "scratch")).strip()
        try:
            mount = capture(self.argv("mount", container)).strip()
            run(
                [
                    "tar",
                    "--numeric-owner",
                    "--xattrs",
                    "--xattrs-include=*",
                    "-C",
                    mount,
                    "-xpf",
                    str(tarball),
                ]
            )
            run(self.argv("umount", container))
            run(self.argv("config", *BASE_CONFIG, f"--label=kaito.base={base.key}", container))
            capture(self.argv("commit", "--rm", "--quiet", container, base.ref))
        except BaseException:
            subprocess.run(self.argv("rm", container), capture_output=True, check=False)
            raise
        return base.ref

    def build(
        self,
        dockerfile: Path,
        context: Path,
        ref: str,
        build_args: Mapping[str, str],
        volumes: Sequence[str],
    ) -> None:
        argv = self.argv(
            "bud",
            f"--file={dockerfile}",
            f"--tag={ref}",
            "--network=host",
            "--layers",
            "--force-rm",
            "--pull=false",
            "--tls-verify=false",
            "--format=oci",
            *(f"--build-arg={k}={v}" for k, v in build_args.items()),
            *(f"--volume={v}" for v in volumes),
            str(context),
        )
        run(argv)

    def push(self, ref: str) -> None:
        run(self.argv("push", "--quiet", "--tls-verify=false", ref, f"docker://{ref}"))

    def local_size(self, ref: str) -> int | None:
        """Uncompressed size: the layers of the image as buildah's storage holds them."""
        with contextlib.suppress(BuildError, ValueError, KeyError, TypeError):
            inspected = json.loads(capture(self.argv("inspect", "--type=image", ref)))
            manifest = json.loads(inspected["Manifest"])
            return sum(int(layer["size"]) for layer in manifest["layers"])
        return None

    def drop_older(self, name: str, keep: str) -> None:
        """Remove earlier tags of the same image from buildah's storage (GBs each)."""
        with contextlib.suppress(BuildError, ValueError):
            listing = json.loads(capture(self.argv("images", "--json")))
            prefix = f"{REGISTRY}/kaito/{name}:"
            old = [
                n
                for image in listing
                for n in image.get("names") or ()
                if n.startswith(prefix) and n != keep
            ]
            if old:
                subprocess.run(self.argv("rmi", *old), capture_output=True, check=False)
        # then the unnamed layer-cache images nothing is built on any more (old builds')
        subprocess.run(self.argv("rmi", "--prune"), capture_output=True, check=False)


@attrs.frozen
class Engine:
    """docker or podman, where one answers: their default bases, pushed over plain HTTP."""

    name: str

    def build(
        self,
        dockerfile: Path,
        context: Path,
        ref: str,
        build_args: Mapping[str, str],
        volumes: Sequence[str],
    ) -> None:
        del volumes  # caches are theirs (BuildKit); the Dockerfiles' bases are the defaults
        args = [f"--build-arg={k}={v}" for k, v in build_args.items()]
        run(
            [
                self.name,
                "build",
                "--network=host",
                "-f",
                str(dockerfile),
                "-t",
                ref,
                *args,
                str(context),
            ]
        )

    def push(self, ref: str) -> None:
        if self.name == "podman":
            run(["podman", "push", "--tls-verify=false", ref, f"docker://{ref}"])
        else:  # docker would need an insecure-registries entry for a plain-HTTP registry
            run(
                [
                    "skopeo",
                    "copy",
                    "--dest-tls-verify=false",
                    f"docker-daemon:{ref}",
                    f"docker://{ref}",
                ]
            )

    def local_size(self, ref: str) -> int | None:
        with contextlib.suppress(BuildError, ValueError):
            return int(capture([self.name, "image", "inspect", "--format={{.Size}}", ref]))
        return None

    def drop_older(self, name: str, keep: str) -> None:
        del name, keep


def pick_engine(choice: str | None) -> Buildah | Engine:
    """docker or podman when one answers (``<engine> info``), else buildah."""
    if choice == "buildah":
        return Buildah()
    for candidate in (choice,) if choice else ("docker", "podman"):
        if (
            shutil.which(candidate)
            and subprocess.run(
                [candidate, "info"], capture_output=True, check=False, timeout=30
            ).returncode
            == 0
        ):
            return Engine(candidate)
        if choice:
            raise BuildError(f"{choice} does not answer (`{choice} info` failed)")
    if not shutil.which("buildah"):
        raise BuildError("no docker or podman answers and buildah is not installed")
    return Buildah()


# -- images ----------------------------------------------------------------------------------
@attrs.frozen
class Image:
    """One image: its Dockerfile, its build context, where its ``BASE`` comes from."""

    name: str
    dockerfile: str
    context: tuple[str, ...] = ()
    """Repository paths (files or directories) that make up the build context."""
    tag_prefix: str = VERSION
    base: str | None = None
    """A key of BASES passed as ``BASE`` (buildah only)."""
    go_base: str | None = None
    """A key of BASES passed as ``GO_BASE``, with the host's Go toolchain mounted (buildah)."""
    from_image: str | None = None
    """Another image of this list passed as ``BASE`` (buildah only)."""
    pip: bool = False
    """RUN steps install from (and add to) a wheelhouse kept between builds."""


PYTHON_CONTEXT = ("pyproject.toml", "README.md", "src", "templates")
IMAGES = (
    Image("kaito-operator", "docker/operator.Dockerfile", PYTHON_CONTEXT, base="python", pip=True),
    Image(
        "kaito-inference", "docker/inference.Dockerfile", PYTHON_CONTEXT, base="python", pip=True
    ),
    Image(
        "kaito-tuning",
        "docker/tuning.Dockerfile",
        PYTHON_CONTEXT,
        from_image="kaito-inference",
        pip=True,
    ),
    Image("kaito-puller", "docker/puller.Dockerfile", base="slim", go_base="slim"),
    Image("pause", "docker/pause.Dockerfile", tag_prefix="3.10-kaito"),
)


def repo_files(paths: Sequence[str]) -> dict[str, Path]:
    """Files under ``paths`` that git tracks or would track (not ignored), as they are now."""
    if not paths:
        return {}
    git = ["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
    listed = capture([*git, "--", *paths])
    files = {name: REPO / name for name in sorted(set(listed.split("\0"))) if name}
    return {name: path for name, path in files.items() if path.is_file()}


def pause_binary() -> Path:
    """The static pause binary from hack/node/build.sh's bin dir, built when missing."""
    script = REPO / "hack" / "node" / "build.sh"
    bin_dir = Path(capture(["bash", str(script), "--bin-dir"]).strip())
    if not (bin_dir / "pause").is_file():
        log(f"{bin_dir / 'pause'} missing: running hack/node/build.sh")
        run(["bash", str(script)], stdout=subprocess.DEVNULL)
    if not (bin_dir / "pause").is_file():
        raise BuildError(f"hack/node/build.sh ran but {bin_dir / 'pause'} is still missing")
    return bin_dir / "pause"


def context_files(image: Image) -> dict[str, Path]:
    if image.name == "pause":
        return {"pause": pause_binary()}
    return repo_files(image.context)


def content_tag(
    image: Image, files: Mapping[str, Path], base_id: str, args: Mapping[str, str]
) -> str:
    """``<prefix>-<sha256[:12]>`` of everything that shapes the image."""
    digest = hashlib.sha256()
    digest.update(f"kaito-image v1\n{image.name}\n{base_id}\n".encode())
    digest.update((REPO / image.dockerfile).read_bytes())
    for key in sorted(args):
        digest.update(f"arg {key}={args[key]}\n".encode())
    for name, path in sorted(files.items()):
        executable = os.access(path, os.X_OK)
        digest.update(f"file {name} {int(executable)} {sha256_file(path)}\n".encode())
    return f"{image.tag_prefix}-{digest.hexdigest()[:12]}"


def stage_context(image: Image, files: Mapping[str, Path]) -> Path:
    """A build context with exactly the hashed files (no .venv, caches or stray outputs)."""
    context = images_cache() / "context" / image.name
    if context.exists():
        shutil.rmtree(context)
    context.mkdir(parents=True)
    for name, source in files.items():
        target = context / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    return context


def go_env(name: str) -> str:
    return capture(["go", "env", name]).strip()


MOUNTS = Path("/run/kaito-build")
"""Where buildah's RUN steps see the host's caches and CA bundle (each leaves an empty
mount point behind in the image: buildah creates it, and nothing can remove it)."""


def build_mounts(image: Image) -> tuple[dict[str, str], list[str]]:
    """Build arguments and ``--volume``s that lend a RUN step the host's caches and CA.

    Only the environment of the build: none of these is in the hash of the tag. TLS to
    PyPI and the Go proxy is intercepted by a CA only the host trusts, hence PIP_CERT and
    SSL_CERT_FILE (mounted beside, not over, the image's bundle, which apt may replace).
    """
    args: dict[str, str] = {}
    volumes: list[str] = []
    ca = MOUNTS / "host-ca.crt"
    if HOST_CA.is_file():
        volumes.append(f"{HOST_CA}:{ca}:ro")
    if image.pip:
        # pip's own HTTP cache stores nothing here (the TLS proxy strips the caching headers),
        # so the Dockerfiles `pip download` into this wheelhouse and install from it.
        wheels = images_cache() / "wheels"
        wheels.mkdir(parents=True, exist_ok=True)
        volumes.append(f"{wheels}:{MOUNTS / 'wheels'}")
        args["WHEELHOUSE"] = str(MOUNTS / "wheels")
        if HOST_CA.is_file():
            args["PIP_CERT"] = str(ca)
    if image.go_base:
        gomodcache, gocache = Path(go_env("GOMODCACHE")), Path(go_env("GOCACHE"))
        gomodcache.mkdir(parents=True, exist_ok=True)
        gocache.mkdir(parents=True, exist_ok=True)
        volumes += [
            f"{go_env('GOROOT')}:{MOUNTS / 'go'}:ro",
            f"{gomodcache}:{MOUNTS / 'gomod'}",
            f"{gocache}:{MOUNTS / 'gocache'}",
        ]
        args |= {
            "GO": str(MOUNTS / "go" / "bin" / "go"),
            "GOMODCACHE": str(MOUNTS / "gomod"),
            "GOCACHE": str(MOUNTS / "gocache"),
            "GOPROXY": go_env("GOPROXY"),
        }
        if HOST_CA.is_file():
            args["SSL_CERT_FILE"] = str(ca)
    return args, volumes


@attrs.frozen
class Result:
    name: str
    ref: str
    built: bool
    seconds: float
    local_size: int | None
    pushed_size: int | None


def pushed_size(registry: LocalRegistry, name: str, tag: str) -> int | None:
    """Compressed size in the registry: the config plus every layer of the manifest."""
    request = urllib.request.Request(
        f"{registry.url}/v2/kaito/{name}/manifests/{tag}",
        headers={
            "Accept": "application/vnd.oci.image.manifest.v1+json, "
            "application/vnd.docker.distribution.manifest.v2+json"
        },
    )
    with (
        contextlib.suppress(OSError, ValueError, KeyError),
        urllib.request.urlopen(request, timeout=10) as resp,
    ):
        manifest = json.load(resp)
        return int(manifest["config"]["size"]) + sum(
            int(layer["size"]) for layer in manifest["layers"]
        )
    return None


@contextlib.contextmanager
def build_lock() -> Iterator[None]:
    """One build at a time (a test and a developer may both run this script)."""
    images_cache().mkdir(parents=True, exist_ok=True)
    with (images_cache() / "build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def build_all(
    names: Sequence[str], *, force: bool, engine_choice: str | None, prune: bool = False
) -> bool:
    """Build and push what is missing; True when images.env was (re)written."""
    registry = LocalRegistry()
    if registry.ensure():
        log(f"started the registry on {registry.url}")
    engine = pick_engine(engine_choice)
    log(f"engine: {engine.name}")
    tags: dict[str, str] = {}
    for image in IMAGES:
        if names and image.name not in names and image.name not in _needed_by(names):
            continue
        tags[image.name] = build_one(image, engine, registry, tags, force=force)
    if prune:
        prune_registry(registry, tags)
    # images not built this time keep the references images.env had (`build.sh kaito-operator`
    # after a full build updates the operator's line only)
    tags = {**previous_tags(), **tags}
    if all(name in tags for name in ENV_NAMES) and all(
        registry.has_manifest(f"kaito/{name}", tags[name]) for name in ENV_NAMES
    ):
        write_env(tags)
        return True
    return False


def previous_tags() -> dict[str, str]:
    """The tags the current images.env names, by image name."""
    by_variable = {variable: name for name, variable in ENV_NAMES.items()}
    tags: dict[str, str] = {}
    with contextlib.suppress(FileNotFoundError):
        for line in env_file().read_text().splitlines():
            variable, _, ref = line.partition("=")
            if variable in by_variable and ":" in ref:
                tags[by_variable[variable]] = ref.rsplit(":", 1)[1]
    return tags


def build_one(
    image: Image,
    engine: Buildah | Engine,
    registry: LocalRegistry,
    tags: Mapping[str, str],
    *,
    force: bool,
) -> str:
    """Build and push ``image`` unless its tag is in the registry; returns the tag."""
    started = time.monotonic()
    files = context_files(image)
    args: dict[str, str] = {}
    if isinstance(engine, Buildah):
        base_id = "scratch"
        if image.base:
            args["BASE"] = BASES[image.base].ref
            base_id = f"debootstrap:{BASES[image.base].key}"
        if image.from_image:
            args["BASE"] = image_ref(image.from_image, tags[image.from_image])
            base_id = args["BASE"]
        if image.go_base:
            args["GO_BASE"] = BASES[image.go_base].ref
    else:
        base_id = f"{engine.name}:dockerfile-defaults"
    tag = content_tag(image, files, base_id, args)
    ref = image_ref(image.name, tag)
    built = force or not registry.has_manifest(f"kaito/{image.name}", tag)
    if built:
        log(f"building {ref}")
        volumes: list[str] = []
        if isinstance(engine, Buildah):
            for key in (image.base, image.go_base):
                if key:
                    engine.ensure_base(BASES[key])
            cache_args, volumes = build_mounts(image)
            args |= cache_args
        context = stage_context(image, files)
        engine.build(REPO / image.dockerfile, context, ref, args, volumes)
        log(f"pushing {ref}")
        engine.push(ref)
        if not registry.has_manifest(f"kaito/{image.name}", tag):
            raise BuildError(f"pushed {ref} but the registry does not list it")
        engine.drop_older(image.name, ref)
    _report(
        Result(
            image.name,
            ref,
            built,
            time.monotonic() - started,
            engine.local_size(ref),
            pushed_size(registry, image.name, tag),
        )
    )
    return tag


def prune_registry(registry: LocalRegistry, current: Mapping[str, str]) -> None:
    """Delete the earlier content-addressed tags of these images, then collect garbage.

    Only tags this script made (``<prefix>-<12 hex>``) of the images just built are
    deleted, never another tag (a ``:test`` someone pushed) or another repository. Pods
    already running keep their images; a new pull of a pruned tag fails.
    """
    deleted = 0
    for image in IMAGES:
        if image.name not in current:
            continue
        repository = f"kaito/{image.name}"
        keep = registry.manifest_digest(repository, current[image.name])
        ours = re.compile(rf"{re.escape(image.tag_prefix)}-[0-9a-f]{{12}}")
        for tag in registry.tags(repository):
            if tag == current[image.name] or not ours.fullmatch(tag):
                continue
            digest = registry.manifest_digest(repository, tag)
            if digest is not None and digest != keep:
                registry.delete_manifest(repository, digest)
                deleted += 1
    freed = registry.collect_garbage()
    log(f"pruned {deleted} old manifests; garbage collection freed {human(freed)}")


def _needed_by(names: Sequence[str]) -> set[str]:
    """Images that others in ``names`` are built FROM (their tag is part of the other's)."""
    return {image.from_image for image in IMAGES if image.name in names and image.from_image}


def _report(result: Result) -> None:
    status = "built" if result.built else "cached"
    print(
        f"{result.name:16} {status:6} {result.seconds:7.1f}s  image {human(result.local_size):>10}"
        f"  pushed {human(result.pushed_size):>10}  {result.ref}",
        flush=True,
    )


def write_env(tags: Mapping[str, str]) -> None:
    lines = [f"{ENV_NAMES[name]}={image_ref(name, tags[name])}\n" for name in ENV_NAMES]
    partial = env_file().with_suffix(".partial")
    partial.write_text("".join(lines))
    partial.rename(env_file())
    log(f"wrote {env_file()}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help="only these images (default: all)")
    parser.add_argument("--force", action="store_true", help="rebuild even when the tag is pushed")
    parser.add_argument("--engine", choices=("buildah", "docker", "podman"), default=None)
    parser.add_argument(
        "--prune",
        action="store_true",
        help="then delete older tags of these images from the registry and collect garbage "
        "(stops the registry for a few seconds)",
    )
    parser.add_argument(
        "--env-file", action="store_true", help="print the images.env path and exit"
    )
    args = parser.parse_args(argv)
    unknown = set(args.names) - {image.name for image in IMAGES}
    if unknown:
        parser.error(f"unknown image {', '.join(sorted(unknown))}; one of {', '.join(ENV_NAMES)}")
    if args.env_file:
        print(env_file())
        return 0
    started = time.monotonic()
    try:
        with build_lock():
            wrote = build_all(
                args.names, force=args.force, engine_choice=args.engine, prune=args.prune
            )
    except (BuildError, RegistryError, HostAddressError) as err:
        print(f"hack/images/build.sh: {err}", file=sys.stderr)
        return 1
    where = f"  -> {env_file()}" if wrote else ""
    print(f"{'total':16} {'':6} {time.monotonic() - started:7.1f}s{where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
