"""A local Kubernetes control plane for tests and the sandbox.

- `kubebins`: builds the pinned kube-apiserver and etcd from ``hack/kubebins``.
- `pki`: the throw-away CA and certificates the control plane uses.
- `controlplane`: `ControlPlane`, etcd plus kube-apiserver on loopback ports.
- `crds`: installs the DPF CustomResourceDefinitions and waits until they serve.

Import the submodules directly; this package imports nothing so that ``kubebins`` works
without the Kubernetes client.
"""
