"""Workspace validation: the admission webhook's rules, also run by the controller.

* :func:`validate_create` -- everything a new Workspace must satisfy;
* :func:`validate_update` -- immutability and the rules for what may change;
* :func:`review` -- an AdmissionReview v1 request in, the response out.

Messages are upstream Kaito's (``api/v1beta1/workspace_validation.go``), rendered
the way its knative webhook renders them. Tuning ConfigMap contents are checked
elsewhere (``kaito.api.tuning_config``); nothing here reads the cluster.
"""

from __future__ import annotations

from kaito.api.validation.admission import review
from kaito.api.validation.create import validate_create
from kaito.api.validation.errors import FieldError, ValidationResult
from kaito.api.validation.update import validate_update

__all__ = ["FieldError", "ValidationResult", "review", "validate_create", "validate_update"]
