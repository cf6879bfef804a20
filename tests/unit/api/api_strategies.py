"""Hypothesis strategies for Workspace / NodeClaim wire dicts (valid shapes, random content).

Values are drawn from mixes of realistic and hostile inputs (known and unknown presets and
SKUs, bad URLs and names), so the same dicts serve round-trip and validation properties.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from kaito.api import constants as c

text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
small_text = st.one_of(text, st.sampled_from(["", "a", "data", "Bad_Name", "x.y", "-"]))
names = st.one_of(
    st.sampled_from(
        [
            "phi-3-mini-4k-instruct",
            "falcon-40b",
            "phi-2",
            "PHI-4",
            "nope",
            "llama-3.1-8b-instruct",
            "deepseek-r1-0528",
            "qwen2.5-coder-32b-instruct",
        ]
    ),
    text,
)
skus = st.one_of(
    st.sampled_from(
        [
            "Standard_NC6s_v3",
            "Standard_NC6",
            "Standard_NC24ads_A100_v4",
            "standard_nv6",
            "Standard_NX_1",
            "Standard_D2s_v3",
            "m5.large",
            "p4d.24xlarge",
            "",
        ]
    ),
    text,
)
urls = st.one_of(
    st.sampled_from(
        [
            "https://example.com/a.parquet",
            "http://127.0.0.1/",
            "ftp://x/y",
            "http://[::1]/",
            "http://169.254.169.254/",
            "not a url",
            "http://:80/",
            "http://[zz/",
            "https://localhost./x",
        ]
    ),
    text,
)
images = st.one_of(
    st.sampled_from(["registry.example.com/a:1", "ACR.azurecr.io/X_Y:0.0.1", "bad image", ""]),
    text,
)
strengths = st.one_of(
    st.sampled_from(["0", "1.0", "0.5", "2", "-1", "nan", "inf", "1e-3", "abc", "0_5", " 1"]),
    text,
)
quantities = st.one_of(st.integers(0, 2**40), st.sampled_from(["100Gi", "1.5", "0"]))
string_lists = st.lists(small_text, max_size=3)
schemaless = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), text),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(small_text, inner, max_size=3)
    ),
    max_leaves=8,
).map(lambda v: {"emptyDir": {}, "extra": v})


containers = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "name": st.one_of(small_text, st.integers(), st.none()),
            "image": st.one_of(images, st.integers()),
        },
    ),
    max_size=3,
)
pod_templates: st.SearchStrategy[dict[str, Any]] = st.fixed_dictionaries(
    {},
    optional={
        "metadata": st.one_of(
            st.fixed_dictionaries(
                {}, optional={"labels": st.dictionaries(small_text, small_text, max_size=2)}
            ),
            small_text,
        ),
        "spec": st.one_of(
            st.fixed_dictionaries(
                {},
                optional={
                    "containers": st.one_of(containers, small_text),
                    "tolerations": st.one_of(st.lists(st.just({"operator": "Exists"})), text),
                    "affinity": st.one_of(st.just({}), text),
                },
            ),
            text,
        ),
    },
)


def obj(required: dict[str, Any], optional: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {k: v for k, v in required.items()}, optional={k: v for k, v in optional.items()}
    )


label_selectors = obj(
    {},
    {
        "matchLabels": st.dictionaries(
            st.one_of(st.sampled_from(["apps", "kaito.sh/workspace", "x", "a/b"]), text),
            small_text,
            max_size=2,
        ),
        "matchExpressions": st.lists(
            obj(
                {"key": small_text, "operator": st.sampled_from(["In", "NotIn", "Exists", "Bad"])},
                {"values": string_lists},
            ),
            max_size=2,
        ),
    },
)
preset_specs = obj(
    {"name": names},
    {
        "accessMode": st.sampled_from(["public", "private"]),
        "presetOptions": obj(
            {},
            {"image": images, "imagePullSecrets": string_lists, "modelAccessSecret": small_text},
        ),
    },
)
data_sources = obj(
    {},
    {
        "name": small_text,
        "urls": st.lists(urls, max_size=3),
        "volumeSource": schemaless,
        "image": images,
        "imagePullSecrets": string_lists,
    },
)
resources = obj(
    {},
    {
        "count": st.one_of(st.integers(-1, 4), st.integers(-(2**63), 2**63 - 1)),
        "instanceType": skus,
        "labelSelector": label_selectors,
        "preferredNodes": string_lists,
        "partition": obj(
            {},
            {
                "mode": st.sampled_from(["mig", "accelerator"]),
                "profile": small_text,
                "count": st.integers(1, 3),
            },
        ),
    },
)
inference = obj(
    {},
    {
        "preset": preset_specs,
        "template": st.one_of(schemaless, pod_templates),
        "config": small_text,
        "adapters": st.lists(obj({}, {"source": data_sources, "strength": strengths}), max_size=12),
    },
)
tuning = obj(
    {},
    {
        "preset": preset_specs,
        "method": st.sampled_from(["lora", "qlora", "QLoRA", "full", ""]),
        "config": small_text,
        "input": data_sources,
        "output": obj(
            {}, {"volumeSource": schemaless, "image": images, "imagePushSecret": small_text}
        ),
    },
)
conditions = st.lists(
    obj(
        {
            "type": st.sampled_from([c.CONDITION_RESOURCE_READY, c.CONDITION_INFERENCE_READY]),
            "status": st.sampled_from(["True", "False", "Unknown"]),
            "reason": small_text,
            "message": text,
            "lastTransitionTime": st.just("2026-01-02T03:04:05Z"),
        },
        {"observedGeneration": st.integers(0, 10)},
    ),
    max_size=3,
)
statuses = obj(
    {},
    {
        "workerNodes": string_lists,
        "conditions": conditions,
        "state": st.sampled_from(list(c.WORKSPACE_STATES)),
        "targetNodeCount": st.integers(0, 5),
        "performance": st.just({"metrics": {"peakTokensPerMinute": {"value": "1"}}}),
    },
)
metadata = obj(
    {"name": st.sampled_from(["ws", "workspace-phi-3", "Bad_Name", "a" * 70])},
    {
        "namespace": st.just("default"),
        "annotations": st.dictionaries(
            st.sampled_from(
                [
                    c.ANNOTATION_BYPASS_RESOURCE_CHECKS,
                    c.ANNOTATION_RUNTIME,
                    c.ANNOTATION_NODE_IMAGE_FAMILY,
                    c.ANNOTATION_PERFORMANCE_MODE,
                    c.ANNOTATION_USE_LOCAL_WEIGHTS,
                    "other",
                ]
            ),
            st.sampled_from(
                ["", "true", "vllm", "transformers", "VLLM", "ubuntu", "balanced", "x", "a\n"]
            ),
            max_size=3,
        ),
        "generation": st.integers(1, 5),
    },
)
workspaces = obj(
    {
        "apiVersion": st.sampled_from([c.API_VERSION_V1ALPHA1, c.API_VERSION_V1BETA1]),
        "kind": st.just(c.WORKSPACE_KIND),
        "metadata": metadata,
        "resource": resources,  # required by the CRD schema
    },
    {"inference": inference, "tuning": tuning, "status": statuses},
)

taints = st.lists(
    obj(
        {"key": small_text, "effect": st.sampled_from(["NoSchedule", "NoExecute"])},
        {"value": small_text, "timeAdded": st.just("2026-01-01T00:00:00Z")},
    ),
    max_size=2,
)
nodeclaims = obj(
    {
        "apiVersion": st.just(c.NODECLAIM_API_VERSION),
        "kind": st.just(c.NODECLAIM_KIND),
        "metadata": obj({"name": small_text}, {"labels": st.dictionaries(small_text, small_text)}),
        "spec": obj(
            {},
            {
                "taints": taints,
                "startupTaints": taints,
                "requirements": st.lists(
                    obj(
                        {"key": small_text, "operator": st.sampled_from(["In", "Gt"])},
                        {"values": string_lists, "minValues": st.integers(1, 3)},
                    ),
                    max_size=3,
                ),
                "resources": obj({}, {"requests": st.dictionaries(small_text, quantities)}),
                "nodeClassRef": obj(
                    {"group": small_text, "kind": small_text, "name": small_text}, {}
                ),
                "expireAfter": st.just("Never"),
                "terminationGracePeriod": st.just("1h"),
            },
        ),
    },
    {
        "status": obj(
            {},
            {
                "nodeName": small_text,
                "providerID": small_text,
                "imageID": small_text,
                "capacity": st.dictionaries(small_text, quantities, max_size=3),
                "allocatable": st.dictionaries(small_text, quantities, max_size=3),
                "conditions": conditions,
                "lastPodEventTime": st.just("2026-01-01T00:00:00Z"),
            },
        )
    },
)
