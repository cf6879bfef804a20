"""The node provisioner: turns Karpenter NodeClaims into GPU nodes and back.

It mirrors upstream's ``Azure/gpu-provisioner`` (a Karpenter cloud provider binary): a
NodeClaim reconciler drives a :class:`kaito.provisioner.cloud.CloudProvider`, which is an
AKS agent pool per NodeClaim on Azure and a simulated (kwok) Node locally.
"""
