"""Rules for a change to an existing Workspace (upstream ``Workspace.validateUpdate``).

What a Workspace runs on and which model it runs are fixed at creation: ``count``,
``instanceType``, ``labelSelector``, ``partition``, the presets, the tuning method and
the ``kaito.sh/runtime`` annotation cannot change, and inference cannot become tuning.
Adapters, inference config, the template's content and tuning input/output may
change; the parts that may change are checked like on create (adapter rules, the
template's shape, the URL guard -- a URL changed after admission must not bypass it).
Adapters, the template, the count cap and the runtime annotation are checked only
when the update changes them, so a Workspace admitted under older rules (or a lower
node cap) can still get its finalizer written. An object being deleted is never
blocked, so that removing its finalizer always succeeds.
"""

from __future__ import annotations

from kaito.api import constants as c
from kaito.api.meta import LabelSelectorError, label_selector_as_map
from kaito.api.runtime_choice import chosen_runtime
from kaito.api.validation.create import check_count, check_max_node_count, invalid_runtime
from kaito.api.validation.errors import (
    Collector,
    ValidationResult,
    generic,
    invalid_value,
    missing_field,
)
from kaito.api.validation.sources import check_adapters, check_image, check_urls
from kaito.api.validation.template import check_pod_template
from kaito.api.workspace import InferenceSpec, ResourceSpec, TuningSpec, Workspace
from kaito.urlguard import Network


def validate_update(
    old: Workspace,
    new: Workspace,
    *,
    node_auto_provisioning: bool = True,
    trusted_data_networks: tuple[Network, ...] = (),
    max_node_count: int = c.DEFAULT_MAX_NODE_COUNT,
) -> ValidationResult:
    """Immutability and the mutable parts' rules, in upstream's words.

    ``max_node_count`` is the manager's cap on ``resource.count``, applied when the
    update changes the count (see :func:`kaito.api.validation.validate_create`).
    """
    check_max_node_count(max_node_count)
    out = Collector()
    if new.deleting:
        return out.result()
    if (old.inference is None) != (new.inference is None):
        out.add(generic("Inference field cannot be toggled once set", "inference"))
    if (old.tuning is None) != (new.tuning is None):
        out.add(generic("Tuning field cannot be toggled once set", "tuning"))
    _check_resource(out, old.resource, new.resource, node_auto_provisioning, max_node_count)
    _check_runtime(out, old, new)
    if new.inference is not None and old.inference is not None:
        _check_inference(out, old.inference, new.inference)
    if new.tuning is not None and old.tuning is not None:
        _check_tuning(out, old.tuning, new.tuning, trusted_data_networks)
    return out.result()


def _check_runtime(out: Collector, old: Workspace, new: Workspace) -> None:
    """The runtime chosen at creation stays; an unknown new value is refused as on create.

    What is compared is the choice (case and spaces aside; an unknown value counts as
    unset), so a Workspace admitted with a value the webhook now refuses may drop it.
    """
    before = old.annotations.get(c.ANNOTATION_RUNTIME)
    after = new.annotations.get(c.ANNOTATION_RUNTIME)
    if before == after:
        return
    path = f"metadata.annotations[{c.ANNOTATION_RUNTIME}]"
    if after is not None and chosen_runtime(new) is None:
        out.add(invalid_runtime(after))
    elif chosen_runtime(old) != chosen_runtime(new):
        out.add(generic(f"annotation {c.ANNOTATION_RUNTIME} is immutable after creation", path))


def _check_resource(
    out: Collector, old: ResourceSpec, new: ResourceSpec, nap: bool, max_node_count: int
) -> None:
    if old.count is not None and new.count is not None and old.count != new.count:
        out.add(generic("field is immutable", "resource.count"))
    if new.node_count != old.node_count:
        check_count(out, new, max_node_count)
    if old.partition != new.partition:
        out.add(generic("field is immutable", "resource.partition"))
    if nap:
        if not new.instance_type:
            out.add(
                generic(
                    "instanceType is required when node auto-provisioning is enabled",
                    "resource.instanceType",
                )
            )
        elif old.instance_type and old.instance_type != new.instance_type:
            out.add(
                generic(
                    "instanceType cannot be changed once set when node auto-provisioning "
                    "is enabled",
                    "resource.instanceType",
                )
            )
    elif not old.instance_type:
        if new.instance_type:
            out.add(
                invalid_value(
                    "instanceType must be empty when node auto-provisioning is disabled "
                    "(BYO scenario)",
                    "resource.instanceType",
                )
            )
    elif new.instance_type and old.instance_type != new.instance_type:
        out.add(invalid_value("instanceType cannot be changed once set", "resource.instanceType"))
    try:
        old_labels = label_selector_as_map(old.label_selector)
        new_labels = label_selector_as_map(new.label_selector)
    except LabelSelectorError:
        out.add(generic("Only allow matchLabels or 'IN' matchExpression", "resource.labelSelector"))
    else:
        if old_labels != new_labels:
            out.add(generic("field is immutable", "resource.labelSelector"))


def _check_inference(out: Collector, old: InferenceSpec, new: InferenceSpec) -> None:
    if old.preset != new.preset:
        out.add(generic("field is immutable", "inference.preset"))
    if (old.template is None) != (new.template is None):
        out.add(generic("field cannot be unset/set if it was set/unset", "inference.template"))
    elif new.template is not None and new.template != old.template:
        check_pod_template(out, new.template, "inference.template")
    if new.adapters != old.adapters:
        check_adapters(out, new.adapters, "inference.adapters")


def _check_tuning(
    out: Collector, old: TuningSpec, new: TuningSpec, trusted: tuple[Network, ...]
) -> None:
    if new.input is None:
        out.add(missing_field("tuning.input"))
    else:
        old_name = old.input.name if old.input else None
        if old_name != new.input.name:
            out.add(
                invalid_value(
                    "During tuning Name field cannot be changed once set", "tuning.input.name"
                )
            )
        if new.input.image:
            check_image(out, new.input.image, "tuning.input.image", "input")
        if new.input.urls:
            check_urls(out, new.input.urls, "tuning.input.urls", trusted)
    if new.output is None:
        out.add(missing_field("tuning.output"))
    elif new.output.image:
        check_image(out, new.output.image, "tuning.output.image", "output")
    if old.preset != new.preset:
        out.add(generic("Preset cannot be changed", "tuning.preset"))
    if (old.method or "").lower() != (new.method or "").lower():
        out.add(generic("Method cannot be changed", "tuning.method"))
