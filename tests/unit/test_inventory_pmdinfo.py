"""PMD info: reading PMD_INFO_STRING from an ELF file, id matching, kmod strings.

The ELF here is real but made for the test (gcc builds a shared object with
the strings DPDK's build embeds); the installed DPDK libraries are read in
tests/functional/test_doctor_real.py.
"""
from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from pktlab.inventory.pmdinfo import PciId, Pmd, PmdIndex, read_pmdinfo

IXGBE_LIKE = {"name": "net_fake_ixgbe", "params": "x=<0|1>", "kmod": "* igb_uio | uio_pci_generic | vfio-pci",
              "pci_ids": [[0x8086, 0x10FB, 0xFFFF, 0xFFFF], [0x8086, 0x1528, 0xFFFF, 0xFFFF]]}
MLX_LIKE = {"name": "mlx5_fake", "kmod": "* ib_uverbs & mlx5_core & mlx5_ib",
            "pci_ids": [[0x15B3, 0x1017, 0xFFFF, 0xFFFF]]}
VDPA_LIKE = {"name": "net_fake_vdpa", "kmod": "* vfio-pci",
             "pci_ids": [[0x1AF4, 0x1041, 0x8086, 0x001A]]}
VIRTIO_LIKE = {"name": "net_fake_virtio", "kmod": "* igb_uio | uio_pci_generic | vfio-pci",
               "pci_ids": [[0x1AF4, 0x1041, 0xFFFF, 0xFFFF]]}


@pytest.fixture(scope="module")
def fake_pmd_lib(tmp_path_factory):
    """A shared object whose .rodata holds PMD_INFO_STRINGs as DPDK's buildtools put them there."""
    if shutil.which("gcc") is None:
        pytest.skip("needs gcc to build a test ELF")
    d = tmp_path_factory.mktemp("pmd")
    lines = []
    for i, info in enumerate((IXGBE_LIKE, MLX_LIKE, VDPA_LIKE, VIRTIO_LIKE)):
        s = "PMD_INFO_STRING= " + json.dumps(info)
        lines.append(f"__attribute__((used)) static const char pmd_info_{i}[] = {json.dumps(s)};")
    (d / "pmd.c").write_text("\n".join(lines) + "\nint dummy(void) { return 0; }\n")
    lib = d / "librte_net_fake.so.23.0"
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(lib), str(d / "pmd.c")], check=True)
    (d / "librte_net_fake.so").symlink_to(lib.name)
    (d / "notes.txt").write_text("not a library")
    return d


def test_reads_every_pmd_info_string(fake_pmd_lib):
    pmds = read_pmdinfo(fake_pmd_lib / "librte_net_fake.so.23.0")
    assert [p.name for p in pmds] == ["net_fake_ixgbe", "mlx5_fake", "net_fake_vdpa", "net_fake_virtio"]
    assert pmds[0].pci_ids == (PciId("8086", "10fb"), PciId("8086", "1528"))
    assert pmds[0].params == "x=<0|1>" and pmds[0].kmod == IXGBE_LIKE["kmod"]


def test_index_reads_each_file_once_and_looks_up(fake_pmd_lib):
    index = PmdIndex.load([fake_pmd_lib])
    assert len(index) == 4  # the .so symlink is the same file
    [pmd] = index.lookup("8086", "10FB")
    assert (pmd.name, pmd.binding, pmd.bifurcated) == ("net_fake_ixgbe", "vfio-pci", False)
    assert pmd.kmod_options() == (("igb_uio",), ("uio_pci_generic",), ("vfio-pci",))
    assert index.lookup("8086", "1572") == []


def test_subsystem_ids_decide_between_claims(fake_pmd_lib):
    """A vDPA-style entry with subsystem ids wins for its card and does not claim plain virtio."""
    index = PmdIndex.load([fake_pmd_lib])
    assert [p.name for p in index.lookup("1af4", "1041", "8086", "001a")] == ["net_fake_vdpa", "net_fake_virtio"]
    assert [p.name for p in index.lookup("1af4", "1041", "1af4", "0001")] == ["net_fake_virtio"]


def test_bifurcated_pmd_stays_on_its_kernel_driver(fake_pmd_lib):
    [pmd] = PmdIndex.load([fake_pmd_lib]).lookup("15b3", "1017")
    assert pmd.bifurcated and pmd.binding is None
    assert pmd.needs_modules == ("ib_uverbs", "mlx5_core", "mlx5_ib")


def test_kmod_strings():
    def pmd(kmod):
        return Pmd("p", "lib", kmod, None, ())

    assert pmd("vfio-pci").kmod_options() == (("vfio-pci",),)  # no device pattern
    assert pmd("* igb_uio | vfio").binding == "vfio-pci"  # old spelling of vfio-pci
    assert pmd("* igb_uio | uio_pci_generic").binding == "uio_pci_generic"
    assert pmd("8086:* vfio-pci; * igb_uio").kmod_options("8086:10fb") == (("vfio-pci",), ("igb_uio",))
    assert pmd("8086:* vfio-pci; * igb_uio").kmod_options("15b3:1017") == (("igb_uio",),)
    assert pmd(None).kmod_options() == () and not pmd(None).bifurcated and pmd(None).binding is None


def test_pci_id_wildcards():
    i = PciId.from_table([0x8086, 0xFFFF])
    assert i == PciId("8086", None) and i.matches("8086", "anything") and not i.matches("15b3", "1017")
    assert not PciId("1af4", "1041", "8086", "001a").matches("1af4", "1041")  # subsystem unknown: no match


def test_missing_paths_and_non_elf_files(tmp_path):
    (tmp_path / "librte_x.so").write_text("not ELF")
    assert len(PmdIndex.load([tmp_path, tmp_path / "missing"])) == 0
    assert PmdIndex.load(root=str(tmp_path)).sources == []  # no DPDK under this root
