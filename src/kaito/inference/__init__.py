"""The inference server that runs inside kaito's model pods (``kaito-inference``).

It serves upstream Kaito's ``POST /chat`` and the OpenAI-compatible API over a model library
(transformers, or vLLM where installed). It imports nothing from the operator: the image that
runs it installs only the ``runtime`` extra.
"""
