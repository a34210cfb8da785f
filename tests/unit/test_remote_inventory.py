"""Hosts from an Ansible inventory, in both formats, through Ansible's own parser."""
import pytest

from pktlab.remote.inventory import Host, InventoryError, load_host

YAML = """\
all:
  vars:
    ansible_user: lab
  children:
    duts:
      hosts:
        compute-3:
          ansible_host: 198.18.0.2
          ansible_port: 2222
          ansible_ssh_private_key_file: /keys/lab
          ansible_ssh_common_args: "-o ProxyJump=bastion.example"
        plain:
"""
INI = """\
[duts]
compute-3 ansible_host=198.18.0.2 ansible_port=2222 ansible_ssh_common_args='-o ProxyJump=bastion.example'
plain
[duts:vars]
ansible_user=lab
ansible_ssh_private_key_file=/keys/lab
"""


@pytest.mark.parametrize("name,text", [("lab.yml", YAML), ("lab.ini", INI)])
def test_host_resolves_from_both_formats(tmp_path, name, text):
    inv = tmp_path / name
    inv.write_text(text)
    h = load_host("compute-3", inv)
    assert (h.address, h.user, h.port, h.identity_file) == ("198.18.0.2", "lab", 2222, "/keys/lab")
    assert h.ssh_args == ("-o", "ProxyJump=bastion.example") and h.jump == "bastion.example"
    plain = load_host("plain", inv)
    assert (plain.address, plain.port, plain.user, plain.jump) == ("plain", 22, "lab", None)


def test_unknown_host_names_file_and_host(tmp_path):
    inv = tmp_path / "lab.yml"
    inv.write_text(YAML)
    with pytest.raises(InventoryError, match=rf"{inv}: compute-9: no such host.*compute-3"):
        load_host("compute-9", inv)


def test_unparsable_and_missing_inventory(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("all: [unclosed\n")
    with pytest.raises(InventoryError, match=rf"{bad}: not a YAML or INI"):
        load_host("x", bad)
    with pytest.raises(InventoryError, match="no such inventory file"):
        load_host("x", tmp_path / "none.yml")


@pytest.mark.parametrize("kw,key", [({"address": "-oProxyCommand=x"}, "ansible_host"),
                                    ({"user": "a b"}, "ansible_user"), ({"port": 0}, "ansible_port")])
def test_host_is_validated(kw, key):
    with pytest.raises(InventoryError, match=key):
        Host(**{"name": "dut", "address": "10.0.0.1", **kw})


def test_bad_port_in_inventory(tmp_path):
    inv = tmp_path / "lab.ini"
    inv.write_text("dut ansible_port=ssh\n")
    with pytest.raises(InventoryError, match=rf"{inv}: dut: ansible_port: 'ssh'"):
        load_host("dut", inv)
