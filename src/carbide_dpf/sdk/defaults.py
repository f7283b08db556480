"""The defaults the Rust SDK ships: a BlueField-3 DPUFlavor and the DTS and HBN services.

All of it is data that `SdkConfig` lets a caller replace. Field names follow the DPUFlavor,
DPUServiceTemplate/Configuration, DPUServiceInterface and DPUDeployment CRDs of DPF v25.10.1;
chart and image versions are those of the DOCA release that DPF version documents and should
be overridden (or mirrored with `RegistryOverrides`) per site.
"""

from __future__ import annotations

from typing import Any, Literal

from carbide_dpf.sdk.services import ServiceSet, parse_services

__all__ = [
    "DEFAULT_FLAVOR_NAME",
    "DOCA_HELM_REPO",
    "default_flavor_spec",
    "default_services",
]

DEFAULT_FLAVOR_NAME = "carbide-bf3"
DOCA_HELM_REPO = "https://helm.ngc.nvidia.com/nvidia/doca"
HBN_SERVICE = "doca-hbn"
DTS_SERVICE = "dts"
HBN_NETWORK = "mybrhbn"

DpuMode = Literal["dpu", "zero-trust", "nic"]

# OVS set up for DOCA (hardware offload, no kernel bridges) the way HBN expects it.
_OVS_SCRIPT = """\
_ovs-vsctl() {
  ovs-vsctl --no-wait --timeout 15 "$@"
}
_ovs-vsctl set Open_vSwitch . other_config:doca-init=true
_ovs-vsctl set Open_vSwitch . other_config:dpdk-max-memzones=50000
_ovs-vsctl set Open_vSwitch . other_config:hw-offload=true
_ovs-vsctl set Open_vSwitch . other_config:pmd-quiet-idle=true
_ovs-vsctl set Open_vSwitch . other_config:max-idle=20000
_ovs-vsctl set Open_vSwitch . other_config:max-revalidator=5000
_ovs-vsctl --if-exists del-br ovsbr1
_ovs-vsctl --if-exists del-br ovsbr2
_ovs-vsctl --may-exist add-br br-sfc
_ovs-vsctl set bridge br-sfc datapath_type=netdev
_ovs-vsctl set bridge br-sfc fail_mode=secure
_ovs-vsctl --may-exist add-port br-sfc p0
_ovs-vsctl set Interface p0 type=dpdk
_ovs-vsctl --may-exist add-port br-sfc p1
_ovs-vsctl set Interface p1 type=dpdk
"""


def default_flavor_spec(dpu_mode: DpuMode = "zero-trust") -> dict[str, Any]:
    """Return the spec of the default BlueField-3 DPUFlavor (HBN-ready, SFs and VFs on)."""
    return {
        "dpuMode": dpu_mode,
        "bfcfgParameters": [
            "UPDATE_ATF_UEFI=yes",
            "UPDATE_DPU_OS=yes",
            "WITH_NIC_FW_UPDATE=yes",
        ],
        "configFiles": [
            {
                "operation": "override",
                "path": "/etc/mellanox/mlnx-bf.conf",
                "permissions": "0644",
                "raw": 'ALLOW_SHARED_RQ="no"\nIPSEC_FULL_OFFLOAD="no"\n'
                       'ENABLE_ESWITCH_MULTIPORT="yes"\n',
            },
            {
                "operation": "override",
                "path": "/etc/mellanox/mlnx-ovs.conf",
                "permissions": "0644",
                "raw": 'CREATE_OVS_BRIDGES="no"\nOVS_DOCA="yes"\n',
            },
            {
                "operation": "override",
                "path": "/etc/mellanox/mlnx-sf.conf",
                "permissions": "0644",
                "raw": "",
            },
        ],
        "grub": {
            "kernelParameters": [
                "console=hvc0", "console=ttyAMA0", "earlycon=pl011,0x13010000", "fixrttc",
                "net.ifnames=0", "biosdevname=0", "iommu.passthrough=1",
                "cgroup_no_v1=net_prio,net_cls", "hugepagesz=2048kB", "hugepages=3072",
            ],
        },
        "sysctl": {
            "parameters": ["net.ipv4.ip_forward=1", "net.ipv4.ip_forward_update_priority=0"],
        },
        "nvconfig": [
            {
                "device": "*",
                "parameters": [
                    "PF_BAR2_ENABLE=0", "PER_PF_NUM_SF=1", "PF_TOTAL_SF=20",
                    "PF_SF_BAR_SIZE=10", "NUM_PF_MSIX_VALID=0", "PF_NUM_PF_MSIX_VALID=1",
                    "PF_NUM_PF_MSIX=228", "INTERNAL_CPU_MODEL=1",
                    "INTERNAL_CPU_OFFLOAD_ENGINE=0", "SRIOV_EN=1", "NUM_OF_VFS=46",
                    "LAG_RESOURCE_ALLOCATION=1",
                ],
            },
        ],
        "ovs": {"rawConfigScript": _OVS_SCRIPT},
    }


def _hbn() -> dict[str, Any]:
    return {
        "name": HBN_SERVICE,
        "helmChart": {"repoURL": DOCA_HELM_REPO, "chart": "doca-hbn", "version": "1.0.5"},
        "values": {
            "image": {"repository": "nvcr.io/nvidia/doca/doca_hbn", "tag": "3.1.0-doca3.1.0"},
            "resources": {"memory": "6Gi", "nvidia.com/bf_sf": 3},
        },
        "interfaces": [
            {"name": "p0_if", "network": HBN_NETWORK},
            {"name": "p1_if", "network": HBN_NETWORK},
            {"name": "pf0hpf_if", "network": HBN_NETWORK},
        ],
    }


def _dts() -> dict[str, Any]:
    return {
        "name": DTS_SERVICE,
        "helmChart": {"repoURL": DOCA_HELM_REPO, "chart": "doca-telemetry",
                      "version": "1.0.6"},
        "values": {"image": {"repository": "nvcr.io/nvidia/doca/doca_telemetry"}},
    }


def default_services() -> ServiceSet:
    """Return the default services: DTS (telemetry) and HBN, with HBN chained to the uplinks
    p0 and p1 and to the host PF pf0hpf."""
    interfaces = [
        {"name": "p0", "interfaceType": "physical", "labels": {"uplink": "p0"},
         "spec": {"interfaceName": "p0"}},
        {"name": "p1", "interfaceType": "physical", "labels": {"uplink": "p1"},
         "spec": {"interfaceName": "p1"}},
        {"name": "pf0hpf", "interfaceType": "pf", "labels": {"port": "pf0hpf"},
         "spec": {"pfID": 0}},
    ]
    chains = [
        {"ports": [{"matchLabels": labels}, {"service": HBN_SERVICE, "interface": port}]}
        for labels, port in (
            ({"uplink": "p0"}, "p0_if"),
            ({"uplink": "p1"}, "p1_if"),
            ({"port": "pf0hpf"}, "pf0hpf_if"),
        )
    ]
    data = {"services": [_dts(), _hbn()], "serviceInterfaces": interfaces,
            "serviceChains": chains}
    return parse_services(data, source="default services")
