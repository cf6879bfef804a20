"""Cloud providers: where a NodeClaim's node comes from.

:mod:`.base` holds the interface and its values, :mod:`.errors` the typed failures;
:mod:`.azure` makes AKS agent pools. Importing this package does not import the Azure SDK.
This package re-exports exactly :data:`.base.__all__` (the one list of public names).
"""

from kaito.provisioner.cloud import base
from kaito.provisioner.cloud.base import *  # noqa: F403

__all__ = list(base.__all__)
