"""Usage and input errors of the CLI: exit codes and messages, no cluster needed."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from carbide_dpf.cli import main

SECRET = "Never-Sh0wn-pa55word"


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    path = tmp_path / "password"
    path.write_text(SECRET + "\n")
    return path


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_bad_provision_input_lists_each_field_and_rule_and_exits_2(password_file: Path) -> None:
    code, output = invoke(
        "provision", "--bfb-url", "ftp://bfb", "--bmc-password-file", str(password_file),
        "--host-bmc-ip", "999.1.1.1", "--node", "Host_1",
        "--dpus", "dpu-a:10.0.0.300:SN1,dpu-a:10.0.0.2:SN2", "--host-bmc-url", "http://x")

    assert code == 2
    for field, rule in (("node", "dns1123-label"), ("host_bmc_ip", "ip-address"),
                        ("dpus[0].bmc_ip", "ip-address"), ("bfb_url", "url-scheme"),
                        ("dpus", "unique")):
        assert any(line.strip().startswith(f"{field}:") and f"rule: {rule}" in line
                   for line in output.splitlines()), (field, output)
    assert SECRET not in output


def test_a_malformed_dpu_list_names_the_entry(password_file: Path) -> None:
    code, output = invoke("provision", "--bfb-url", "https://x/b.bfb", "--bmc-password-file",
                          str(password_file), "--host-bmc-ip", "10.0.0.1", "--node", "h",
                          "--dpus", "dpu-a:10.0.0.1")

    assert code == 2
    assert "dpus[0]" in output and "DEVICE:BMC_IP:SERIAL" in output


def test_provision_without_a_password_source_is_a_usage_error() -> None:
    code, output = invoke("provision", "--bfb-url", "https://x/b.bfb", "--host-bmc-ip",
                          "10.0.0.1", "--node", "h", "--dpus", "a:10.0.0.1:S")

    assert code == 2
    assert "--bmc-password-file" in output


def test_a_plain_password_flag_warns_and_is_never_echoed() -> None:
    code, output = invoke("provision", "--bfb-url", "ftp://bad", "--bmc-password", SECRET,
                          "--host-bmc-ip", "10.0.0.1", "--node", "h", "--dpus", "a:10.0.0.1:S")

    assert code == 2
    assert "warning: --bmc-password shows the password in the process list" in output
    assert SECRET not in output


def test_node_and_host_id_are_exclusive() -> None:
    code, output = invoke("cleanup", "--node", "a", "--host-id", "b")

    assert code == 2
    assert "node: give either the node name or the host id" in output


def test_status_filters_are_checked_before_connecting() -> None:
    code, output = invoke("status", "--kubeconfig", "/nonexistent", "--host-bmc-ip", "10.0.0")
    assert code == 2
    assert "host_bmc_ip:" in output and "rule: ip-address" in output

    code, output = invoke("status", "--node", "a", "--host-bmc-ip", "10.0.0.1")
    assert code == 2 and "at most one of --node and --host-bmc-ip" in output


def test_unknown_command_is_a_usage_error() -> None:
    code, _ = invoke("no-such-command")
    assert code == 2


def test_every_command_in_the_group_loads_and_has_help() -> None:
    from carbide_dpf.cli import _COMMANDS

    for name in _COMMANDS:
        code, output = invoke(name, "--help")
        assert code == 0, (name, output)
        assert "Usage:" in output
