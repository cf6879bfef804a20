"""The persistent local registry: on the kaito host address, content kept across restarts."""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
import uuid

from kaito.testenv.registry import (
    HOST_ADDRESS,
    REGISTRY,
    LocalRegistry,
    host_address_present,
)

REPOSITORY = "kaito-test/registry-restart"
EMPTY_CONFIG = b"{}"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def _request(
    url: str,
    *,
    method: str = "GET",
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def _push_blob(registry: LocalRegistry, blob: bytes) -> str:
    digest = f"sha256:{hashlib.sha256(blob).hexdigest()}"
    status, headers, body = _request(
        f"{registry.url}/v2/{REPOSITORY}/blobs/uploads/", method="POST"
    )
    assert status == 202, body
    location = headers["Location"]
    if location.startswith("/"):
        location = registry.url + location
    separator = "&" if "?" in location else "?"
    status, _, body = _request(
        f"{location}{separator}digest={digest}",
        method="PUT",
        data=blob,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert status == 201, body
    return digest


def test_registry_listens_on_the_host_address(registry: LocalRegistry) -> None:
    assert host_address_present()
    assert registry.address == REGISTRY == f"{HOST_ADDRESS}:5000"
    status, headers, _ = _request(f"http://{REGISTRY}/v2/")
    assert status == 200
    assert headers.get("Docker-Distribution-Api-Version") == "registry/2.0"
    pid = registry.pid()
    assert pid is not None
    assert registry.ensure() is False, "a running registry is adopted, not restarted"
    assert registry.pid() == pid


def _push_image(registry: LocalRegistry) -> tuple[str, bytes, str, bytes, str]:
    """A one-layer image with a unique layer: (tag, manifest, its digest, layer, its digest)."""
    layer = f"kaito registry test {uuid.uuid4()}\n".encode()
    layer_digest = _push_blob(registry, layer)
    config_digest = _push_blob(registry, EMPTY_CONFIG)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.empty.v1+json",
                "digest": config_digest,
                "size": len(EMPTY_CONFIG),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": layer_digest,
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    tag = f"t-{uuid.uuid4().hex[:12]}"
    status, headers, body = _request(
        f"{registry.url}/v2/{REPOSITORY}/manifests/{tag}",
        method="PUT",
        data=manifest,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert status == 201, body
    return tag, manifest, headers["Docker-Content-Digest"], layer, layer_digest


def test_registry_keeps_its_content_across_a_restart(registry: LocalRegistry) -> None:
    tag, manifest, manifest_digest, layer, layer_digest = _push_image(registry)
    try:
        old_pid = registry.pid()
        assert registry.stop() is True
        assert not registry.answers(), "stop() returns once the registry is gone"
        assert registry.ensure() is True, "a stopped registry is started again"
        assert registry.pid() not in (None, old_pid)

        assert registry.has_manifest(REPOSITORY, tag)
        assert tag in registry.tags(REPOSITORY)
        status, _, body = _request(
            f"{registry.url}/v2/{REPOSITORY}/manifests/{tag}", headers={"Accept": OCI_MANIFEST}
        )
        assert (status, body) == (200, manifest)
        status, _, body = _request(f"{registry.url}/v2/{REPOSITORY}/blobs/{layer_digest}")
        assert (status, body) == (200, layer)
    finally:
        registry.delete_manifest(REPOSITORY, manifest_digest)  # deletes are enabled
        _request(f"{registry.url}/v2/{REPOSITORY}/blobs/{layer_digest}", method="DELETE")
    assert not registry.has_manifest(REPOSITORY, tag)


def test_garbage_collection_frees_the_blobs_of_deleted_manifests(registry: LocalRegistry) -> None:
    tag, _, manifest_digest, _, layer_digest = _push_image(registry)
    kept_tag, _, _, kept_layer, kept_digest = _push_image(registry)
    registry.delete_manifest(REPOSITORY, manifest_digest)
    assert not registry.has_manifest(REPOSITORY, tag)
    assert _request(f"{registry.url}/v2/{REPOSITORY}/blobs/{layer_digest}")[0] == 200

    registry.collect_garbage()

    assert registry.running(), "the registry serves again after collecting garbage"
    assert _request(f"{registry.url}/v2/{REPOSITORY}/blobs/{layer_digest}")[0] == 404
    assert registry.has_manifest(REPOSITORY, kept_tag)
    status, _, body = _request(f"{registry.url}/v2/{REPOSITORY}/blobs/{kept_digest}")
    assert (status, body) == (200, kept_layer)
    registry.delete_manifest(REPOSITORY, registry.manifest_digest(REPOSITORY, kept_tag) or "")
