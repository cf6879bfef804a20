"""Names that appear on the wire: API group, labels, annotations, finalizer, conditions.

They are upstream Kaito's exact strings (``api/v1beta1/labels.go``,
``condition_types.go``, ``pkg/utils/consts``) so that upstream's YAML, scripts
and ``kubectl get -l`` habits keep working. Every other module imports them from
here; a string literal for one of these names elsewhere is a bug waiting to happen.
"""

from __future__ import annotations

from typing import Final

# --- API group and versions -------------------------------------------------

GROUP: Final = "kaito.sh"
V1ALPHA1: Final = "v1alpha1"
V1BETA1: Final = "v1beta1"
STORAGE_VERSION: Final = V1BETA1
API_VERSION_V1ALPHA1: Final = f"{GROUP}/{V1ALPHA1}"
API_VERSION_V1BETA1: Final = f"{GROUP}/{V1BETA1}"
WORKSPACE_KIND: Final = "Workspace"
WORKSPACE_PLURAL: Final = "workspaces"

KARPENTER_GROUP: Final = "karpenter.sh"
NODECLAIM_API_VERSION: Final = "karpenter.sh/v1"
NODECLAIM_KIND: Final = "NodeClaim"
NODECLAIM_PLURAL: Final = "nodeclaims"

# --- Labels -------------------------------------------------------------------

LABEL_WORKSPACE: Final = "kaito.sh/workspace"
"""Name of the owning Workspace, on pods, Jobs, NodeClaims and nodes."""
LABEL_WORKSPACE_NAMESPACE: Final = "kaito.sh/workspacenamespace"
"""Namespace of the owning Workspace, on NodeClaims and nodes (they are cluster-scoped)."""
LABEL_RAGENGINE: Final = "kaito.sh/ragengine"
LABEL_RAGENGINE_NAMESPACE: Final = "kaito.sh/ragenginenamespace"
LABEL_WORKSPACE_NAME: Final = "workspace.kaito.io/name"
"""On ControllerRevisions: the Workspace whose spec they record."""
LABEL_MACHINE_TYPE: Final = "kaito.sh/machine-type"
"""``gpu`` or ``cpu``, set on nodes by the gpu-provisioner."""
LABEL_CREATION_TIMESTAMP: Final = "kaito.sh/creation-timestamp"
LABEL_ACCELERATOR: Final = "accelerator"
ACCELERATOR_NVIDIA: Final = "nvidia"
LABEL_NODEPOOL: Final = "karpenter.sh/nodepool"
"""Karpenter's NodePool label; kaito's NodeClaims carry the value :data:`KAITO_NODEPOOL`."""
KAITO_NODEPOOL: Final = "kaito"
LABEL_INSTANCE_TYPE: Final = "node.kubernetes.io/instance-type"
LABEL_OS: Final = "kubernetes.io/os"
LABEL_ARCH: Final = "kubernetes.io/arch"
LABEL_AZURE_AGENTPOOL: Final = "kubernetes.azure.com/agentpool"
LABEL_AGENTPOOL: Final = "agentpool"

RESERVED_SELECTOR_LABELS: Final[frozenset[str]] = frozenset(
    {
        LABEL_WORKSPACE,
        LABEL_WORKSPACE_NAMESPACE,
        LABEL_RAGENGINE,
        LABEL_RAGENGINE_NAMESPACE,
        "karpenter.kaito.sh/workspace-name",
        "karpenter.kaito.sh/workspace-namespace",
        "karpenter.kaito.sh/inferenceset",
        "karpenter.kaito.sh/inferenceset-namespace",
    }
)
"""Label keys kaito stamps itself; they are stripped from a user's ``labelSelector``
(upstream ``SanitizedMatchLabels``) so one Workspace can never target another's nodes."""

# --- Annotations ----------------------------------------------------------------

ANNOTATION_WORKSPACE_HASH: Final = "workspace.kaito.io/hash"
"""sha256 of the Workspace's resource/inference/tuning, set by the controller."""
ANNOTATION_WORKSPACE_REVISION: Final = "workspace.kaito.io/revision"
"""Revision number, on the Workspace and on the workload it created."""
ANNOTATION_ENABLE_LB: Final = "kaito.sh/enablelb"
"""``"True"`` makes the inference Service a LoadBalancer."""
ANNOTATION_RUNTIME: Final = "kaito.sh/runtime"
"""``vllm`` or ``transformers``: which inference server runs the preset."""
ANNOTATION_RUNTIME_CONTRACT: Final = "kaito.sh/runtime-contract"
"""``upstream`` or ``kaito``: whose image serves the preset (overrides ``--runtime-contract``).
Upstream has no such annotation: it only ever runs its own images."""
ANNOTATION_WEIGHTS_SOURCE: Final = "kaito.sh/weights-source"
"""``download`` or ``artifact``: where kaito's image gets a preset's weights, overriding the
preset's own choice (``kaito`` contract; upstream's image always downloads them)."""
ANNOTATION_BYPASS_RESOURCE_CHECKS: Final = "kaito.sh/bypass-resource-checks"
"""Its presence (any value) skips the GPU count/memory admission checks."""
ANNOTATION_NODE_IMAGE_FAMILY: Final = "kaito.sh/node-image-family"
ANNOTATION_NODE_CLASS_NAME: Final = "kaito.sh/node-class-name"
ANNOTATION_DISABLE_BENCHMARK: Final = "kaito.sh/disable-benchmark"
ANNOTATION_PERFORMANCE_MODE: Final = "kaito.sh/performance-mode"
ANNOTATION_USE_LOCAL_WEIGHTS: Final = "kaito.sh/use-local-weights"
ANNOTATION_DO_NOT_DISRUPT: Final = "karpenter.sh/do-not-disrupt"

NODE_IMAGE_FAMILIES: Final = ("azurelinux", "ubuntu")
PERFORMANCE_MODES: Final = ("balanced", "interactivity", "throughput")
RUNTIME_VLLM: Final = "vllm"
RUNTIME_TRANSFORMERS: Final = "transformers"
RUNTIMES: Final = (RUNTIME_TRANSFORMERS, RUNTIME_VLLM)
CONTRACT_UPSTREAM: Final = "upstream"
"""Upstream Kaito's published images (``kaito-base``) with upstream v0.12's command lines."""
CONTRACT_KAITO: Final = "kaito"
"""kaito's own ``kaito-inference`` image (``make images``), from a registry the user names."""
CONTRACTS: Final = (CONTRACT_UPSTREAM, CONTRACT_KAITO)
WEIGHTS_DOWNLOAD: Final = "download"
"""From HuggingFace when the server starts (``--download-dir``, ``HF_TOKEN``)."""
WEIGHTS_ARTIFACT: Final = "artifact"
"""An OCI artifact pulled by the ``model-weights-downloader`` init container (``oras pull``)."""
WEIGHTS_SOURCES: Final = (WEIGHTS_DOWNLOAD, WEIGHTS_ARTIFACT)

# --- Finalizer ------------------------------------------------------------------

WORKSPACE_FINALIZER: Final = "workspace.finalizer.kaito.sh"

# --- Condition types --------------------------------------------------------------

CONDITION_RESOURCE_READY: Final = "ResourceReady"
CONDITION_NODECLAIM_READY: Final = "NodeClaimReady"
CONDITION_NODES_READY: Final = "NodesReady"
CONDITION_INFERENCE_READY: Final = "InferenceReady"
CONDITION_JOB_STARTED: Final = "JobStarted"
CONDITION_WORKSPACE_SUCCEEDED: Final = "WorkspaceSucceeded"
CONDITION_WORKSPACE_READY: Final = "WorkspaceReady"
"""v0.1-v0.2 name of the summary condition; the v1alpha1 WORKSPACEREADY column reads it."""
CONDITION_WORKSPACE_DELETING: Final = "WorkspaceDeleting"

# --- Condition reasons ---------------------------------------------------------------

REASON_NODES_READY: Final = "NodesReady"
REASON_NODE_NOT_READY: Final = "NodeNotReady"
REASON_NODE_PLUGINS_NOT_READY: Final = "NodePluginsNotReady"
REASON_NODECLAIMS_READY: Final = "NodeClaimsReady"
REASON_NODECLAIM_NOT_READY: Final = "NodeClaimNotReady"
REASON_RESOURCE_SUCCESS: Final = "workspaceResourceStatusSuccess"
REASON_RESOURCE_NOT_READY: Final = "workspaceResourceStatusNotReady"
REASON_RESOURCE_FAILED: Final = "workspaceResourceStatusFailed"
REASON_CREATE_NODECLAIM_PENDING: Final = "CreateNodeClaimPending"
REASON_NODECLAIM_FAILED_CREATION: Final = "nodeClaimFailedCreation"
REASON_INFERENCE_SUCCESS: Final = "WorkspaceInferenceStatusSuccess"
REASON_INFERENCE_PENDING: Final = "WorkspaceInferenceStatusPending"
REASON_INFERENCE_FAILED: Final = "WorkspaceInferenceStatusFailed"
REASON_TUNING_STARTED: Final = "WorkspaceTuningJobStatusStarted"
REASON_TUNING_PENDING: Final = "WorkspaceTuningJobStatusPending"
REASON_TUNING_FAILED: Final = "WorkspaceTuningJobStatusFailed"
REASON_WORKSPACE_SUCCEEDED: Final = "workspaceSucceeded"
REASON_WORKSPACE_PENDING: Final = "workspacePending"
REASON_WORKSPACE_FAILED: Final = "workspaceFailed"
REASON_WORKSPACE_DELETED: Final = "workspaceDeleted"
REASON_INVALID_SPEC: Final = "InvalidSpec"
REASON_PERMISSION_DENIED: Final = "PermissionDenied"
"""A write the reconciler needs was refused with 403 (its RBAC); retried with backoff."""

# Pod-failure reasons surfaced in InferenceReady (upstream HEAD classification).
REASON_CONTAINER_OOM_KILLED: Final = "ContainerOOMKilled"
REASON_IMAGE_PULL_ERROR: Final = "ImagePullError"
REASON_WEIGHTS_PULL_FAILED: Final = "ModelWeightsPullFailed"
"""The init container that pulls an artifact preset's weights failed (oras's words)."""
REASON_CONTAINER_START_ERROR: Final = "ContainerStartError"
REASON_CONTAINER_CRASH_LOOP_BACKOFF: Final = "ContainerCrashLoopBackOff"
REASON_POD_EVICTED: Final = "PodEvicted"
REASON_NODE_DISK_PRESSURE: Final = "NodeDiskPressure"
REASON_NODE_MEMORY_PRESSURE: Final = "NodeMemoryPressure"
REASON_UNSCHEDULABLE: Final = "Unschedulable"

# --- Workspace states (status.state, v1beta1) ------------------------------------------

STATE_PENDING: Final = "Pending"
STATE_READY: Final = "Ready"
STATE_NOT_READY: Final = "NotReady"
STATE_RUNNING: Final = "Running"
STATE_SUCCEEDED: Final = "Succeeded"
STATE_FAILED: Final = "Failed"
WORKSPACE_STATES: Final = (
    STATE_PENDING,
    STATE_READY,
    STATE_NOT_READY,
    STATE_RUNNING,
    STATE_SUCCEEDED,
    STATE_FAILED,
)

# --- Tuning -------------------------------------------------------------------------

TUNING_METHOD_LORA: Final = "lora"
TUNING_METHOD_QLORA: Final = "qlora"
TUNING_METHODS: Final = (TUNING_METHOD_LORA, TUNING_METHOD_QLORA)
DEFAULT_LORA_CONFIG_TEMPLATE: Final = "lora-params-template"
DEFAULT_QLORA_CONFIG_TEMPLATE: Final = "qlora-params-template"
DEFAULT_INFERENCE_CONFIG_TEMPLATE: Final = "inference-params-template"

# --- Limits -------------------------------------------------------------------------

MAX_ADAPTERS: Final = 10
"""Upstream's limit; also the CRD's ``maxItems`` on ``inference.adapters``."""
MAX_ADAPTER_NAME_LENGTH: Final = 63 - len("docker-config-")
"""An adapter's name prefixed with ``docker-config-`` names a volume (a DNS-1123 label)."""
DEFAULT_MAX_NODE_COUNT: Final = 32
"""The manager-wide cap on ``resource.count`` unless ``--max-nodes-per-workspace`` says otherwise.

Every preset in the catalog fits on one node of the largest SKU and on at most 2 nodes
of 8 x A100 80GB (deepseek-v3, 641 GiB); the only (preset, SKU) pairs that need more
than 32 nodes spread a 600+ GiB model over 8-16 GiB GPUs (40 to 81 nodes). 32 nodes of
the largest SKUs hold over 30 times the largest preset, and each node is a GPU VM
billed by the hour, so a bigger count is almost surely a typo. The
``kaito.sh/bypass-resource-checks`` annotation does not lift the cap; an operator does."""
MAX_NODES_PER_WORKSPACE_FLAG: Final = "--max-nodes-per-workspace"
"""The manager flag that sets the cap (named in the denial so users know who can raise it)."""
MAX_NODE_COUNT_CEILING: Final = 1000
"""The CRD's ``maximum`` on ``resource.count`` (and ``maxItems`` on ``preferredNodes``):
the hard bound no flag can lift (an AKS node pool stops at 1000 nodes)."""
MAX_PARTITION_GPUS: Final = 16
"""The CRD's ``maximum`` on ``resource.partition.count``: whole GPUs of one node (16 is the
most any SKU in the catalog carries, trn1n.32xlarge)."""
MAX_DATA_URLS: Final = 1000
"""The CRD's ``maxItems`` on a data source's ``urls``: they become the arguments of the
tuning data downloader, so their number (and the Job's size) must stay bounded."""
DEFAULT_ADAPTER_STRENGTH: Final = "1.0"
V1ALPHA1_DEFAULT_INSTANCE_TYPE: Final = "Standard_NC24ads_A100_v4"

# --- Admission webhook ----------------------------------------------------------------

WEBHOOK_NAME: Final = "validation.workspace.kaito.sh"
WEBHOOK_PATH: Final = "/validate/workspace.kaito.sh"
