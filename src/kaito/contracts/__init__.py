"""Contracts the operator and the programs in its pods share, each written down once.

The operator (``kaito.api``, ``kaito.controllers``) and the in-pod programs (``kaito.tuning``,
``kaito.inference``) never import each other; what both must agree on lives here, in
modules that need only the standard library and PyYAML: the tuning ConfigMap's key,
sections and default templates (:mod:`kaito.contracts.tuning_configmaps`). The SSRF policy
for data URLs, shared the same way, is the leaf module :mod:`kaito.urlguard`.
"""
