"""Build the real ``kube-apiserver`` and ``etcd`` the tests and the sandbox run.

The binaries come from the Go module in ``hack/kubebins`` (it pins k8s.io/kubernetes and
etcd). They are built with ``CGO_ENABLED=0`` into a cache directory keyed by a hash of
``go.mod`` and ``go.sum``, so they are rebuilt only when the pins change:

- default: ``~/.cache/carbide-dpf/kubebins/<hash>/``
- override: ``$CARBIDE_DPF_KUBEBINS_DIR`` (used as is; a stamp file in it records the hash)

Run ``python -m carbide_dpf.sandbox.kubebins`` to build (if needed) and print the directory.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from carbide_dpf.errors import ConfigError

log = logging.getLogger(__name__)

ENV_DIR = "CARBIDE_DPF_KUBEBINS_DIR"
"""Environment variable that overrides the binaries' directory."""

KUBERNETES_VERSION = "v1.35.4"
"""The k8s.io/kubernetes release pinned in hack/kubebins/go.mod (stamped into the binary)."""

ETCD_VERSION = "v3.6.5"
"""The go.etcd.io/etcd/server/v3 release pinned in hack/kubebins/go.mod."""

# Bump when the build recipe below changes, so existing caches are rebuilt.
_RECIPE = "1"
_STAMP = ".module-hash"

# The link step stamps the release into the binary like the official builds do, so
# `/version` reports v1.35.4 rather than v0.0.0-master. Only the link step depends on
# -ldflags: compiled packages still come from the shared Go build cache.
_VERSION_LDFLAGS = " ".join(
    f"-X k8s.io/component-base/version.{name}={value}"
    for name, value in (
        ("gitVersion", KUBERNETES_VERSION),
        ("gitMajor", KUBERNETES_VERSION[1:].split(".")[0]),
        ("gitMinor", KUBERNETES_VERSION[1:].split(".")[1]),
        ("gitTreeState", "clean"),
    )
)

# binary name -> Go main package
_PACKAGES = {
    "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
    "etcd": "go.etcd.io/etcd/server/v3",
}


@dataclass(frozen=True, slots=True)
class KubeBinaries:
    """Paths of the built binaries."""

    directory: Path
    kube_apiserver: Path
    etcd: Path


def module_dir() -> Path:
    """Return the ``hack/kubebins`` Go module of this source checkout."""
    return Path(__file__).resolve().parents[3] / "hack" / "kubebins"


def module_hash(module: Path | None = None) -> str:
    """Return the cache key: a hash of go.mod and go.sum (and of the build recipe)."""
    module = module or module_dir()
    digest = hashlib.sha256(_RECIPE.encode())
    for name in ("go.mod", "go.sum"):
        digest.update(name.encode() + b"\0" + (module / name).read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def binaries_dir(key: str) -> Path:
    """Return where the binaries for module hash ``key`` live."""
    override = os.environ.get(ENV_DIR)
    if override:
        return Path(override).expanduser().resolve()
    return Path.home() / ".cache" / "carbide-dpf" / "kubebins" / key


def ensure_binaries() -> KubeBinaries:
    """Return the binaries, building them first if missing or built from older pins.

    Concurrent callers (two pytest runs) serialise on a lock file; the second one finds the
    binaries up to date.
    """
    module = module_dir()
    if not (module / "go.mod").is_file():
        return _prebuilt_only()

    key = module_hash(module)
    directory = binaries_dir(key)
    directory.mkdir(parents=True, exist_ok=True)
    with _locked(directory / ".lock"):
        if _up_to_date(directory, key):
            log.info("kube binaries up to date at %s", directory)
        else:
            _build(module, directory, key)
    return _binaries(directory)


def _prebuilt_only() -> KubeBinaries:
    # An installed wheel carries no Go module: only an explicit directory can help.
    override = os.environ.get(ENV_DIR)
    if override and _has_binaries(Path(override)):
        return _binaries(Path(override).resolve())
    raise ConfigError(
        f"cannot build kube-apiserver and etcd: the Go module {module_dir()} is missing; "
        f"run from a source checkout or set {ENV_DIR} to a directory holding both binaries"
    )


def _binaries(directory: Path) -> KubeBinaries:
    return KubeBinaries(directory, directory / "kube-apiserver", directory / "etcd")


def _has_binaries(directory: Path) -> bool:
    return all(os.access(directory / name, os.X_OK) for name in _PACKAGES)


def _up_to_date(directory: Path, key: str) -> bool:
    stamp = directory / _STAMP
    return stamp.is_file() and stamp.read_text().strip() == key and _has_binaries(directory)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build(module: Path, directory: Path, key: str) -> None:
    go = shutil.which("go")
    if go is None:
        raise ConfigError(
            "building kube-apiserver and etcd needs the Go toolchain (go 1.25 or newer) on "
            f"PATH; install it, or set {ENV_DIR} to a directory holding both binaries"
        )

    log.info("building kube binaries into %s (module hash %s)", directory, key)
    (directory / _STAMP).unlink(missing_ok=True)
    started = time.monotonic()
    for name, package in _PACKAGES.items():
        _go_build(go, module, package, directory / name)

    (directory / _STAMP).write_text(key + "\n")
    log.info("built kube binaries in %.1fs at %s", time.monotonic() - started, directory)


def _go_build(go: str, module: Path, package: str, target: Path) -> None:
    # Build beside the target and rename, so a crash never leaves a half-written binary.
    partial = target.with_name(target.name + ".partial")
    command = [go, "build", "-o", str(partial), "-ldflags", _VERSION_LDFLAGS, package]
    env = {**os.environ, "CGO_ENABLED": "0"}
    log.info("building %s", package)
    result = subprocess.run(
        command, cwd=module, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        tail = "\n".join(result.stderr.splitlines()[-30:])
        raise ConfigError(
            f"go build of {package} failed (exit {result.returncode}); fix the Go module in "
            f"{module} or the toolchain, then retry. Output:\n{tail}"
        )
    partial.replace(target)


def main() -> None:
    """Build the binaries if needed and print their directory."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    print(ensure_binaries().directory)


if __name__ == "__main__":
    main()
