"""Cloud providers: where a NodeClaim's node comes from.

:mod:`.base` holds the interface and its values, :mod:`.errors` the typed failures;
:mod:`.azure` makes AKS agent pools. Importing this package does not import the Azure SDK.
"""

from kaito.provisioner.cloud.base import (
    CloudError,
    CloudProvider,
    CreateInProgress,
    ImageFamily,
    Instance,
    InstanceNotFound,
    InstanceRequest,
    InstanceState,
    InvalidRequest,
    QuotaExceeded,
    SkuUnavailable,
    Taint,
    Throttled,
    TransientError,
)

__all__ = [
    "CloudError",
    "CloudProvider",
    "CreateInProgress",
    "ImageFamily",
    "Instance",
    "InstanceNotFound",
    "InstanceRequest",
    "InstanceState",
    "InvalidRequest",
    "QuotaExceeded",
    "SkuUnavailable",
    "Taint",
    "Throttled",
    "TransientError",
]
