"""Where the kube binaries are cached and when they are rebuilt."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from carbide_dpf.sandbox import kubebins


def _module_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "kubebins"
    copy.mkdir()
    for name in ("go.mod", "go.sum"):
        shutil.copy(kubebins.module_dir() / name, copy / name)
    return copy


def test_module_hash_is_stable_for_the_same_pins(tmp_path: Path) -> None:
    assert kubebins.module_hash(_module_copy(tmp_path)) == kubebins.module_hash()


def test_module_hash_changes_when_go_sum_changes(tmp_path: Path) -> None:
    copy = _module_copy(tmp_path)
    before = kubebins.module_hash(copy)

    with (copy / "go.sum").open("a") as go_sum:
        go_sum.write("example.com/extra v1.0.0 h1:AAAA=\n")

    assert kubebins.module_hash(copy) != before


def test_default_directory_is_keyed_by_the_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(kubebins.ENV_DIR, raising=False)

    directory = kubebins.binaries_dir("abc123")

    assert directory == Path.home() / ".cache" / "carbide-dpf" / "kubebins" / "abc123"


def test_environment_overrides_the_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(kubebins.ENV_DIR, str(tmp_path))

    assert kubebins.binaries_dir("abc123") == tmp_path.resolve()


def test_ensure_binaries_finds_them_up_to_date_without_building(
    caplog: pytest.LogCaptureFixture,
) -> None:
    kubebins.ensure_binaries()  # builds at most once, on a machine that never built them
    caplog.set_level("INFO", logger=kubebins.__name__)

    found = kubebins.ensure_binaries()

    assert "kube binaries up to date" in caplog.text
    assert "building" not in caplog.text
    assert found.kube_apiserver.is_file()
    assert found.etcd.is_file()
