"""Rules for the nested pieces both create and update check: selectors, data, adapters.

Messages are upstream's (``api/v1beta1/workspace_validation.go``); paths are the
JSON paths of the field at fault.
"""

from __future__ import annotations

import math
import re
from typing import Final

from kaito.api import constants as c
from kaito.api.meta import LabelSelector, LabelSelectorError, label_selector_as_map
from kaito.api.validation.errors import (
    Collector,
    generic,
    invalid_value,
    missing_field,
    quoted,
    shorten,
)
from kaito.api.validation.images import image_reference_error
from kaito.api.validation.names import (
    dns1123_label_errors,
    dns1123_subdomain_errors,
    label_key_errors,
    label_value_errors,
)
from kaito.api.workspace import AdapterSpec, DataDestination, DataSource
from kaito.urlguard import Network, data_source_url_error

# strconv.ParseFloat's decimal syntax: no "_" digit separators and ASCII digits only
# (Python's float() takes both, and "\d" any Unicode digit). Used with fullmatch.
_GO_FLOAT: Final = re.compile(
    r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf(?:inity)?|nan)",
    re.IGNORECASE | re.ASCII,
)


def sanitized_match_labels(selector: LabelSelector | None) -> dict[str, str]:
    """matchLabels without kaito's reserved keys (upstream ``SanitizedMatchLabels``)."""
    labels = (selector.match_labels if selector else None) or {}
    return {k: v for k, v in labels.items() if k not in c.RESERVED_SELECTOR_LABELS}


def check_label_selector(out: Collector, selector: LabelSelector | None, path: str) -> None:
    """Present, valid Kubernetes labels, expressible as labels, with one kaito does not own.

    The labels are stamped on NodeClaims and nodes and become the pods' node affinity,
    so a key or value the API server refuses there is refused here, in its words.
    """
    if selector is None:
        out.add(missing_field(path))
        return
    _check_label_syntax(out, selector, path)
    try:
        as_map = label_selector_as_map(selector)
    except LabelSelectorError as exc:
        out.add(invalid_value(str(exc), path))
        return
    usable = {k: v for k, v in as_map.items() if k not in c.RESERVED_SELECTOR_LABELS}
    if not usable:
        out.add(
            invalid_value(
                "matchLabels must contain at least one non-reserved label", f"{path}.matchLabels"
            )
        )


def _check_label_syntax(out: Collector, selector: LabelSelector, path: str) -> None:
    for key, value in (selector.match_labels or {}).items():
        for msg in label_key_errors(key):
            out.add(invalid_value(f"{quoted(key)}: {msg}", f"{path}.matchLabels"))
        for msg in label_value_errors(value):
            out.add(invalid_value(f"{quoted(value)}: {msg}", f"{path}.matchLabels[{shorten(key)}]"))
    for i, expr in enumerate(selector.match_expressions or ()):
        at = f"{path}.matchExpressions[{i}]"
        for msg in label_key_errors(expr.key):
            out.add(invalid_value(f"{quoted(expr.key)}: {msg}", f"{at}.key"))
        for j, value in enumerate(expr.values or ()):
            for msg in label_value_errors(value):
                out.add(invalid_value(f"{quoted(value)}: {msg}", f"{at}.values[{j}]"))


def check_image(out: Collector, image: str, path: str, what: str) -> None:
    reason = image_reference_error(image)
    if reason is not None:
        out.add(invalid_value(f"Unable to parse {what} image reference: {reason}", path))


def check_urls(
    out: Collector, urls: list[str], path: str, trusted: tuple[Network, ...] = ()
) -> None:
    for i, url in enumerate(urls):
        reason = data_source_url_error(url, trusted)
        if reason is not None:
            out.add(invalid_value(reason, f"{path}[{i}]"))


def check_tuning_input(
    out: Collector, source: DataSource, path: str, trusted: tuple[Network, ...] = ()
) -> None:
    """Exactly one of urls, volumeSource, image; URLs pass the SSRF guard; image parses."""
    given = 0
    if source.urls:
        check_urls(out, source.urls, f"{path}.urls", trusted)
        given += 1
    if source.image:
        check_image(out, source.image, f"{path}.image", "input")
        given += 1
    if source.volume_source is not None:
        given += 1
    if given != 1:
        out.add(
            generic(
                "Exactly one of URLs, Volume, or Image must be specified",
                f"{path}.urls",
                f"{path}.volumeSource",
                f"{path}.image",
            )
        )
    if source.name:
        for msg in dns1123_subdomain_errors(source.name):
            out.add(invalid_value(msg, f"{path}.name"))


def check_tuning_output(out: Collector, dest: DataDestination, path: str) -> None:
    """Exactly one of volumeSource, image; an image needs an imagePushSecret."""
    given = 0
    if dest.image:
        check_image(out, dest.image, f"{path}.image", "output")
        if not dest.image_push_secret:
            out.add(
                generic(
                    "Must specify imagePushSecret with destination image", f"{path}.imagePushSecret"
                )
            )
        given += 1
    if dest.volume_source is not None:
        given += 1
    if given != 1:
        out.add(
            generic(
                "Exactly one of Volume or Image must be specified",
                f"{path}.volumeSource",
                f"{path}.image",
            )
        )


def _check_strength(out: Collector, adapter: AdapterSpec, name: str, path: str) -> None:
    raw = c.DEFAULT_ADAPTER_STRENGTH if adapter.strength is None else adapter.strength
    if not _GO_FLOAT.fullmatch(raw):
        out.add(
            generic(
                f"Invalid strength value for Adapter '{shorten(name)}': "
                f"strconv.ParseFloat: parsing {quoted(raw)}: invalid syntax",
                path,
            )
        )
        return
    value = float(raw)
    if math.isnan(value) or value < 0 or value > 1.0:
        out.add(
            generic(f"Strength value for Adapter '{shorten(name)}' must be between 0 and 1", path)
        )


ADAPTER_NAME_MAX: Final = c.MAX_ADAPTER_NAME_LENGTH


def _check_derived_names(out: Collector, name: str, path: str) -> None:
    """The names kaito builds from an adapter's must be valid too (DNS-1123 labels).

    ``puller-<name>`` (init container), ``adapter-<name>`` and ``docker-config-<name>``
    (volumes): a '.' or a name longer than :data:`ADAPTER_NAME_MAX` passes upstream's
    subdomain rule and then has the inference Deployment refused by the API server.
    """
    if dns1123_label_errors(name) or len(name) > ADAPTER_NAME_MAX:
        out.add(
            invalid_value(
                f"adapter name {quoted(name)} must be a lowercase RFC 1123 label (no '.') of "
                f"at most {ADAPTER_NAME_MAX} characters: kaito names its puller container "
                '"puller-<name>" and its volumes "adapter-<name>" and "docker-config-<name>"',
                path,
            )
        )


def check_adapters(out: Collector, adapters: list[AdapterSpec] | None, path: str) -> None:
    """At most 10, unique DNS-1123 names, image or volume source, strength in [0, 1]."""
    adapters = adapters or []
    if len(adapters) > c.MAX_ADAPTERS:
        out.add(
            generic(
                "Number of Adapters exceeds the maximum limit, "
                f"maximum of {c.MAX_ADAPTERS} allowed",
                path,
            )
        )
    seen: set[str] = set()
    for i, adapter in enumerate(adapters):
        at = f"{path}[{i}]"
        source = adapter.source
        if source is None:
            out.add(missing_field(f"{at}.source"))
            continue
        name = source.name or ""
        if not name:
            out.add(generic("Name of Adapter field must be specified", f"{at}.source.name"))
        else:
            subdomain = dns1123_subdomain_errors(name)
            for msg in subdomain:
                out.add(invalid_value(msg, f"{at}.source.name"))
            if not subdomain:
                _check_derived_names(out, name, f"{at}.source.name")
            if name in seen:
                out.add(
                    generic(
                        f"Duplicate adapter source name found: {shorten(name)}",
                        f"{at}.source.name",
                    )
                )
            seen.add(name)
        if not source.image and source.volume_source is None:
            out.add(
                generic(
                    "Either Image or Volume must be specified for adapter source", f"{at}.source"
                )
            )
        if source.urls:
            out.add(generic("URLs are not supported as adapter source", f"{at}.source.urls"))
        if source.image:
            check_image(out, source.image, f"{at}.source.image", "adapter")
        _check_strength(out, adapter, name, f"{at}.strength")
