"""Install the DPF CustomResourceDefinitions into a cluster and wait until they serve.

The CRD yaml files come from the DPF release (``DPF_CRDS_DIR``, e.g.
``shared/dpf-crds/v25.10.1``). They are applied with server-side apply, so installing twice
is harmless and a newer release's files update the definitions in place.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from carbide_dpf.errors import ConfigError
from carbide_dpf.kube.client import KubeClient
from carbide_dpf.kube.conditions import is_condition_true
from carbide_dpf.kube.resource import CUSTOM_RESOURCE_DEFINITION

log = logging.getLogger(__name__)

ENV_CRDS_DIR = "DPF_CRDS_DIR"
"""Environment variable naming the directory of DPF CRD yaml files."""

FIELD_MANAGER = "carbide-dpf-sandbox"

_POLL_INTERVAL = 0.1

# The C loader parses the DPF CRDs (half a megabyte of yaml) several times faster.
_YamlLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def crds_dir_from_env(
    default: Path | None = None, environ: Mapping[str, str] | None = None
) -> Path:
    """Return ``$DPF_CRDS_DIR`` (resolved), or ``default`` when the variable is unset."""
    value = (os.environ if environ is None else environ).get(ENV_CRDS_DIR)
    if value:
        return Path(value).expanduser().resolve()
    if default is None:
        raise ConfigError(
            f"{ENV_CRDS_DIR} is not set; point it at a directory of DPF CRD yaml files, "
            "e.g. shared/dpf-crds/v25.10.1"
        )
    return default.resolve()


def load_crds(directory: Path) -> list[dict[str, Any]]:
    """Read every CustomResourceDefinition in the ``*.yaml``/``*.yml`` files of ``directory``.

    Raises `ConfigError` naming ``DPF_CRDS_DIR`` when the directory is missing or holds no
    CRD.
    """
    if not directory.is_dir():
        raise ConfigError(
            f"CRD directory {directory} does not exist; set {ENV_CRDS_DIR} to the directory "
            "of DPF CRD yaml files (e.g. shared/dpf-crds/v25.10.1)"
        )
    crds = [doc for path in _yaml_files(directory) for doc in _crd_documents(path)]
    if not crds:
        raise ConfigError(
            f"CRD directory {directory} holds no CustomResourceDefinition yaml; set "
            f"{ENV_CRDS_DIR} to the directory of DPF CRD yaml files "
            "(e.g. shared/dpf-crds/v25.10.1)"
        )
    return crds


async def install_crds(
    kube: KubeClient, directory: Path, *, established_within: float = 60.0
) -> list[str]:
    """Apply every CRD found in ``directory`` and wait until each is Established.

    Returns the CRD names. Raises `ConfigError` for a missing or empty directory, and
    when a CRD is not Established within ``established_within`` seconds (the message shows
    its conditions, which say why, e.g. a name conflict).
    """
    crds = load_crds(directory)
    started = time.monotonic()
    for crd in crds:
        await kube.apply(CUSTOM_RESOURCE_DEFINITION, crd, field_manager=FIELD_MANAGER)

    names = [crd["metadata"]["name"] for crd in crds]
    deadline = time.monotonic() + established_within
    await asyncio.gather(*(_wait_established(kube, name, deadline) for name in names))
    elapsed = time.monotonic() - started
    log.info("installed crds count=%d dir=%s in %.1fs", len(names), directory, elapsed)
    return names


async def _wait_established(kube: KubeClient, name: str, deadline: float) -> None:
    while True:
        crd = await kube.get(CUSTOM_RESOURCE_DEFINITION, name)
        conditions = (crd.get("status") or {}).get("conditions") or []
        if is_condition_true(crd, "Established"):
            log.debug("crd established name=%s", name)
            return
        if time.monotonic() > deadline:
            raise ConfigError(
                f"CRD {name} is not Established (conditions: {conditions}); fix the "
                "definition or remove the conflicting one, then install again"
            )
        await asyncio.sleep(_POLL_INTERVAL)



def _yaml_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml"))


def _crd_documents(path: Path) -> Iterator[dict[str, Any]]:
    try:
        documents = list(yaml.load_all(path.read_text(), Loader=_YamlLoader))
    except yaml.YAMLError as error:
        raise ConfigError(f"cannot parse {path}: {error}; fix or remove the file") from error
    for document in documents:
        if isinstance(document, dict) and document.get("kind") == "CustomResourceDefinition":
            yield document
