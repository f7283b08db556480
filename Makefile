# Developer entry points. `make test` is what CI runs (see .ci/run).

.PHONY: test lint kube-bins generate check-generated demo

# Lint, type check, check the generated models, build (or find) the kube binaries, then
# run the tests against a real kube-apiserver and etcd.
test: lint check-generated kube-bins
	uv run pytest

lint:
	uv run ruff check .
	uv run mypy

# kube-apiserver and etcd for the tests and the sandbox, built from hack/kubebins into
# ~/.cache/carbide-dpf/kubebins/<hash> (or $$CARBIDE_DPF_KUBEBINS_DIR); a no-op when current.
kube-bins:
	uv run python -m carbide_dpf.sandbox.kubebins

generate:
	uv run python scripts/generate_models.py

check-generated:
	uv run python scripts/generate_models.py --check

# Provision a two-DPU host on a throw-away sandbox, then stop it (docs/sandbox.md).
demo: kube-bins
	bash scripts/demo.sh
