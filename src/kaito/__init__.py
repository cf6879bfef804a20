"""kaito: a Kubernetes operator that serves and fine-tunes AI models on GPU nodes.

A user applies one ``Workspace`` custom resource; kaito validates it, asks for GPU
nodes through Karpenter-style NodeClaims, renders the inference or tuning workload
from Jinja templates and reports progress in status conditions.
"""

__version__ = "0.1.0"
