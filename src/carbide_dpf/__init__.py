"""carbide-dpf: manage NVIDIA BlueField DPUs through the DPF Kubernetes operator."""
