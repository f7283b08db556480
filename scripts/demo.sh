#!/usr/bin/env bash
# The carbide-dpf demo: provision a host with two DPUs on a local sandbox.
#
#   1. `carbide-dpf sandbox up`: kube-apiserver + etcd with the DPF CRDs, the operator
#      simulator, and a Redfish BMC emulator playing the host's BMC;
#   2. `carbide-dpf provision`: create the deployment objects, register two DPUs and their
#      node, then release the maintenance hold and power-cycle the host over Redfish when the
#      (simulated) operator asks, until both DPUs are Ready;
#   3. `carbide-dpf status`: the node, its devices and DPUs;
#   4. `carbide-dpf sandbox down`, also when a step fails.
#
# Runs from the repository root (`make demo`). Settings, from the environment:
#   DEMO_DWELL     seconds a DPU stays in each phase (default 0.5, so the phases can be seen)
#   CARBIDE_DPF    the command to run (default: uv run carbide-dpf)
#   DPF_CRDS_DIR   the DPF CRDs (default: ../shared/dpf-crds/v25.10.1 beside the checkout)
set -euo pipefail

dwell=${DEMO_DWELL:-0.5}
read -r -a cli <<<"${CARBIDE_DPF:-uv run carbide-dpf}"
namespace=dpf-operator-system
node=demo-host
# Its own sandbox directory: the demo neither reuses nor stops a sandbox you started.
work=$(mktemp -d "${TMPDIR:-/tmp}/carbide-dpf-demo.XXXXXX")
box="$work/sandbox"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

finish() {
    local code=$?
    step "sandbox down"
    "${cli[@]}" sandbox down --dir "$box" || code=1
    rm -rf "$work"
    if [[ $code -eq 0 ]]; then
        step "demo passed: both DPUs of $node are Ready"
    else
        step "demo FAILED (exit $code); the output above says where"
    fi
    exit "$code"
}
trap finish EXIT

step "sandbox up (API server, DPF CRDs, operator simulator with ${dwell}s dwell, host BMC)"
started=$EPOCHREALTIME
"${cli[@]}" sandbox up --dir "$box" --hosts 1 --dwell "$dwell"
python3 -c 'import sys; print(f"sandbox up took {float(sys.argv[2]) - float(sys.argv[1]):.1f}s")' \
    "$started" "$EPOCHREALTIME"
export KUBECONFIG="$box/kubeconfig"

# Where the host's BMC is: read from the sandbox's state rather than parsed from its output.
state="$box/state.json"
field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" \
    "$state" "$1"; }
bmc_url=$(field bmc_url)
bmc_user=$(field bmc_username)
bmc_password_file=$(field bmc_password_file)

# The password the DPUs' own BMCs get (the bmc-shared-password Secret); demo value only.
dpu_password_file="$work/dpu-bmc-password"
(umask 077 && printf 'demo-%s\n' "$RANDOM$RANDOM" >"$dpu_password_file")

step "provision $node: two DPUs, host BMC $bmc_url (system host-1)"
"${cli[@]}" provision -n "$namespace" \
    --bfb-url https://bfb.example.com/images/bf-bundle-2.9.1.bfb \
    --bmc-password-file "$dpu_password_file" \
    --node "$node" \
    --host-bmc-ip 127.0.0.1 \
    --dpus dpu-a:10.0.0.11:MT2301X00001,dpu-b:10.0.0.12:MT2301X00002 \
    --host-bmc-url "$bmc_url" \
    --host-bmc-user "$bmc_user" \
    --host-bmc-password-file "$bmc_password_file" \
    --host-bmc-system-id host-1 \
    --power-cycle-timeout 60 \
    --timeout 300

step "status of $namespace"
"${cli[@]}" status -n "$namespace"

step "check: both DPUs Ready"
"${cli[@]}" status -n "$namespace" -o json | python3 -c '
import json, sys
hosts = json.load(sys.stdin)["hosts"]
phases = {d["name"]: d["phase"] for h in hosts for d in h["dpus"]}
print(", ".join(f"{name}: {phase}" for name, phase in sorted(phases.items())))
sys.exit(0 if len(phases) == 2 and set(phases.values()) == {"Ready"} else 1)'
