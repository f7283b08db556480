"""The Kubernetes access layer: the only code in carbide-dpf that speaks HTTP to Kubernetes."""
