"""The initramfs writer: same inputs give the same bytes; module order; the /init scripts."""
from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import stat
import struct
import subprocess

import pytest

from pktlab.guest import initramfs
from pktlab.guest.initramfs import FAILED, MODULES, READY, Cpio, gzip_bytes, module_order, read_cpio

# depends= of the Debian 6.1 modules the forwarders load (read from linux-image-6.1.0-56-amd64)
DEBIAN_DEPENDS = {
    "virtio_ring": [], "virtio": ["virtio_ring"], "virtio_pci_legacy_dev": [], "virtio_pci_modern_dev": [],
    "virtio_pci": ["virtio_ring", "virtio_pci_modern_dev", "virtio_pci_legacy_dev", "virtio"],
    "failover": [], "net_failover": ["failover"], "virtio_net": ["virtio_ring", "virtio", "net_failover"],
    "llc": [], "stp": ["llc"], "bridge": ["llc", "stp"], "sch_ingress": [], "act_mirred": [],
    "cls_matchall": [], "uio": [], "uio_pci_generic": ["uio"],
}


def tiny_elf(sections: dict[str, bytes]) -> bytes:
    """A minimal relocatable ELF64 with the given sections (enough for .modinfo and the static check)."""
    names = b"\0"
    offsets = {}
    for name in [*sections, ".shstrtab"]:
        offsets[name] = len(names)
        names += name.encode() + b"\0"
    body, placed = b"", []
    for name, data in [*sections.items(), (".shstrtab", names)]:
        placed.append((name, 64 + len(body), len(data)))
        body += data
    body += b"\0" * (-(64 + len(body)) % 8)
    shoff = 64 + len(body)
    shdrs = b"\0" * 64
    for name, off, size in placed:
        kind = 3 if name == ".shstrtab" else 1
        shdrs += struct.pack("<IIQQQQIIQQ", offsets[name], kind, 0, 0, off, size, 0, 0, 1, 0)
    header = (b"\x7fELF\x02\x01\x01" + b"\0" * 9
              + struct.pack("<HHIQQQIHHHHHH", 1, 62, 1, 0, 0, shoff, 0, 64, 0, 0, 64, len(placed) + 1, len(placed)))
    return header + body + shdrs


def fake_module(name: str, depends=()) -> bytes:
    info = f"license=GPL\0depends={','.join(depends)}\0name={name}\0vermagic=6.1.0 SMP mod_unload\0".encode()
    return tiny_elf({".modinfo": info, ".text": b"\xc3"})


def sample(order=("a", "b")) -> Cpio:
    c = Cpio()
    files = {"bin/busybox": (b"\x7fELF busybox", 0o755), "init": (b"#!/bin/sh\necho hi\n", 0o755),
             "usr/lib/modules/x.ko": (b"module", 0o644)}
    for path in (files if order[0] == "a" else reversed(list(files))):
        data, mode = files[path]
        c.file(path, data, mode)
    c.symlink("bin/sh", "busybox")
    c.symlink("lib", "usr/lib")
    c.chardev("dev/console", 5, 1)
    return c


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def test_same_entries_give_the_same_bytes_in_any_insertion_order():
    one = gzip_bytes(sample(("a", "b")).to_bytes(0))
    two = gzip_bytes(sample(("b", "a")).to_bytes(0))
    assert sha(one) == sha(two)
    assert sha(gzip_bytes(sample().to_bytes(1700000000))) != sha(one)  # the epoch is an input


def test_archive_is_sorted_owned_by_root_with_one_mtime():
    entries = read_cpio(sample().to_bytes(1234))
    names = list(entries)
    assert names[0] == "." and stat.S_IMODE(entries["."]["mode"]) == 0o755  # DPDK refuses a world-writable /
    assert names[1:] == sorted(names[1:])
    assert {(e["uid"], e["gid"], e["mtime"]) for e in entries.values()} == {(0, 0, 1234)}
    assert [e["ino"] for e in entries.values()] == list(range(1, len(names) + 1))
    assert stat.S_ISCHR(entries["dev/console"]["mode"]) and entries["dev/console"]["rdev"] == (5, 1)
    assert stat.S_ISLNK(entries["bin/sh"]["mode"]) and entries["bin/sh"]["data"] == b"busybox"
    assert entries["init"]["data"] == b"#!/bin/sh\necho hi\n" and entries["init"]["mode"] & 0o777 == 0o755
    assert stat.S_ISDIR(entries["usr/lib/modules"]["mode"])  # parents made on the way


def test_gzip_has_no_name_and_no_timestamp():
    data = gzip_bytes(b"x" * 1000)
    assert data[:3] == b"\x1f\x8b\x08"
    assert data[3] == 0, "FNAME or other flags set"
    assert data[4:8] == b"\0\0\0\0", "mtime set"
    assert gzip.decompress(data) == b"x" * 1000


def test_the_kernel_can_read_the_archive_with_cpio(tmp_path):
    cpio = ["cpio"] if shutil.which("cpio") else ["busybox", "cpio"] if shutil.which("busybox") else None
    if cpio is None:
        pytest.skip("no cpio program (cpio or busybox)")
    p = subprocess.run([*cpio, "-t"], input=sample().to_bytes(0), capture_output=True)
    assert p.returncode == 0, p.stderr
    assert "dev/console" in p.stdout.decode().split()


def test_conflicting_entries_are_refused():
    c = Cpio()
    c.file("a/b", b"1")
    c.file("a/b", b"1")  # the same twice is fine
    with pytest.raises(ValueError, match="twice"):
        c.file("a/b", b"2")
    with pytest.raises(ValueError, match="non-directory"):
        c.file("a/b/c", b"x")
    with pytest.raises(ValueError, match=r"\.\."):
        c.file("../etc/passwd", b"x")


def test_host_path_keeps_symlink_chains_and_resolves_directory_links(tmp_path):
    real = tmp_path / "usr" / "lib"
    real.mkdir(parents=True)
    (real / "libx.so.1.2").write_bytes(b"library")
    os.symlink("libx.so.1.2", real / "libx.so.1")
    os.symlink("usr/lib", tmp_path / "lib")  # merged /usr
    c = Cpio()
    guest = c.host_path(tmp_path / "lib" / "libx.so.1")
    assert guest == str(real / "libx.so.1")
    e = c.entries
    key = str(real / "libx.so.1").lstrip("/")
    assert stat.S_ISLNK(e[key].mode) and e[key].data == b"libx.so.1.2"
    assert e[key + ".2"].data == b"library"


def loadable(order):
    """Every module after its dependencies, each once."""
    assert len(set(order)) == len(order), order
    for i, m in enumerate(order):
        assert set(DEBIAN_DEPENDS[m]) <= set(order[:i]), f"{m} before its dependencies in {order}"
    return True


def test_module_order_puts_dependencies_first():
    for fwd, wanted in MODULES.items():
        order = module_order(wanted, DEBIAN_DEPENDS)
        assert loadable(order) and set(wanted) <= set(order), fwd
    assert set(module_order(MODULES["bridge"], DEBIAN_DEPENDS)) == {
        "virtio_ring", "virtio", "virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_pci",
        "failover", "net_failover", "virtio_net", "llc", "stp", "bridge"}
    # asked for in the wrong order, still loadable, and only what is needed
    order = module_order(["bridge", "virtio_net"], DEBIAN_DEPENDS)
    assert loadable(order) and set(order) == {"llc", "stp", "bridge", "virtio_ring", "virtio", "failover",
                                              "net_failover", "virtio_net"}


def test_module_order_names_what_is_missing_or_circular():
    with pytest.raises(ValueError, match="module stp .needed by bridge. not found"):
        module_order(["bridge"], {"bridge": ["stp"]})
    with pytest.raises(ValueError, match="cycle: a -> b -> a"):
        module_order(["a"], {"a": ["b"], "b": ["a"]})


def test_module_depends_reads_modinfo():
    assert initramfs.module_depends(fake_module("virtio_net", ["virtio_ring", "virtio"])) == ["virtio_ring", "virtio"]
    assert initramfs.module_depends(fake_module("llc")) == []
    with pytest.raises(ValueError, match="no .modinfo"):
        initramfs.module_depends(tiny_elf({".text": b"\xc3"}))


@pytest.mark.parametrize("fwd", initramfs.FORWARDERS)
def test_init_scripts_parse_and_carry_the_markers(fwd):
    order = module_order(MODULES[fwd], DEBIAN_DEPENDS)
    text = initramfs.init_script(fwd, order)
    assert text.startswith("#!/bin/sh\n")
    assert f"echo \"{READY} forwarder=$FWD" in text and FAILED in text 
    assert not __import__("re").search(r"@[A-Z]+@", text), "a placeholder left unfilled"
    assert f"for m in {' '.join(order)}; do" in text
    sh = shutil.which("busybox")
    if sh:
        p = subprocess.run([sh, "sh", "-n"], input=text.encode(), capture_output=True)
        assert p.returncode == 0, p.stderr.decode()


def test_init_scripts_say_what_they_set_up():
    assert "/usr/sbin/tc filter add" in initramfs.init_script("tc", []).replace("$TC", "/usr/sbin/tc")
    assert "brport/learning" in initramfs.init_script("bridge", [])
    tp = initramfs.init_script("testpmd", [], hugepages=64)
    assert "HP=64" in tp and "--forward-mode=io" in tp and "uio_pci_generic/new_id" in tp
    with pytest.raises(ValueError, match="unknown forwarder"):
        initramfs.init_script("ovs", [])
