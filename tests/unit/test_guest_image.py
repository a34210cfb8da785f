"""Image builds from fixed inputs: same bytes twice, skipped when the manifest matches,
rebuilt when an input changes; vmlinux extraction from a bzImage; ldd parsing."""
from __future__ import annotations

import bz2
import gzip
import hashlib
import json
import lzma
import os
import struct

import pytest

from pktlab.guest import image as image_mod
from pktlab.guest.image import ImageError, ensure_image, extract_vmlinux
from pktlab.guest.initramfs import MODULES, module_order, read_cpio
from tests.unit.test_guest_initramfs import DEBIAN_DEPENDS, fake_module, tiny_elf

RELEASE = "6.1.0-99-amd64"
PACKAGE = f"linux-image-{RELEASE}"


def bzimage(payload: bytes, setup_sects: int = 1, version: int = 0x20F) -> bytes:
    """A bzImage-shaped blob: setup header pointing at payload after the setup sectors."""
    head = bytearray((setup_sects + 1) * 512)
    head[0x1F1] = setup_sects
    head[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", head, 0x206, version)
    struct.pack_into("<II", head, 0x248, 16, len(payload))
    return bytes(head) + b"\0" * 16 + payload + b"\x11\x22\x33\x44"  # the size trailer follows


ELF = b"\x7fELF" + bytes(range(256)) * 40


@pytest.mark.parametrize("compress", [
    lambda d: lzma.compress(d, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32),
    lambda d: lzma.compress(d, format=lzma.FORMAT_ALONE),
    lambda d: gzip.compress(d, mtime=0),
    bz2.compress,
], ids=["xz", "lzma", "gzip", "bzip2"])
def test_vmlinux_comes_out_of_the_payload(compress):
    out, fmt = extract_vmlinux(bzimage(compress(ELF)))
    assert out == ELF and fmt


def test_vmlinux_extraction_names_what_is_wrong():
    with pytest.raises(ImageError, match="not a bzImage"):
        extract_vmlinux(b"\0" * 4096)
    with pytest.raises(ImageError, match="unknown kernel payload"):
        extract_vmlinux(bzimage(b"\x99\x98garbage"))
    with pytest.raises(ImageError, match="not an ELF"):
        extract_vmlinux(bzimage(gzip.compress(b"MZ not elf", mtime=0)))
    with pytest.raises(ImageError, match="payload_offset"):
        extract_vmlinux(bzimage(gzip.compress(ELF, mtime=0), version=0x206))


def test_ldd_output_is_parsed(monkeypatch):
    out = ("\tlinux-vdso.so.1 (0x00007ffc)\n"
           "\tlibm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x00007f)\n"
           "\tlibbus.so.23 => /usr/lib/x86_64-linux-gnu/dpdk/pmds-23.0/libbus.so.23 (0x00007f)\n"
           "\t/lib64/ld-linux-x86-64.so.2 (0x00007f)\n")
    monkeypatch.setattr(image_mod, "_run", lambda *a, **k: out)
    assert image_mod.ldd("/usr/bin/x") == ["/lib/x86_64-linux-gnu/libm.so.6",
                                           "/usr/lib/x86_64-linux-gnu/dpdk/pmds-23.0/libbus.so.23",
                                           "/lib64/ld-linux-x86-64.so.2"]
    monkeypatch.setattr(image_mod, "_run", lambda *a, **k: "\tlibgone.so.1 => not found\n")
    with pytest.raises(ImageError, match="libgone.so.1 not found"):
        image_mod.ldd("/usr/bin/x")


@pytest.fixture
def fixed_inputs(tmp_path, monkeypatch):
    """A kernel directory and a busybox made here, so builds depend on nothing else."""
    busybox = tmp_path / "busybox"
    busybox.write_bytes(tiny_elf({".text": b"busybox-static 1.35"}))
    monkeypatch.setattr(image_mod, "BUSYBOX", str(busybox))
    monkeypatch.setattr(image_mod, "_owning_packages", lambda paths: {"busybox-static": "1:1.35.0-4"})
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)

    def fake_kernel(cache, package=None):
        kdir = cache / "kernel" / f"{PACKAGE}_6.1.999-1"
        if not (kdir / "kernel.json").exists():
            (kdir / "modules").mkdir(parents=True)
            for name, deps in DEBIAN_DEPENDS.items():
                (kdir / "modules" / f"{name}.ko").write_bytes(fake_module(name, deps))
            (kdir / "vmlinux").write_bytes(ELF)
            info = {"package": PACKAGE, "version": "6.1.999-1", "release": RELEASE, "deb_sha256": "0" * 64,
                    "payload": "xz", "image": "vmlinux", "image_sha256": hashlib.sha256(ELF).hexdigest(),
                    "module_depends": DEBIAN_DEPENDS}
            (kdir / "kernel.json").write_text(json.dumps(info))
        return kdir

    monkeypatch.setattr(image_mod, "ensure_kernel", fake_kernel)
    return tmp_path


def digest(p) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_two_builds_from_the_same_inputs_are_identical(fixed_inputs):
    a = ensure_image("bridge", fixed_inputs / "cache-a")
    b = ensure_image("bridge", fixed_inputs / "cache-b")
    assert digest(a.initrd) == digest(b.initrd)
    assert a.info() == json.loads(b.manifest.read_text())
    info = a.info()
    assert info["initrd"]["sha256"] == digest(a.initrd)
    assert info["modules"] == module_order(MODULES["bridge"], DEBIAN_DEPENDS)  # dependencies first
    assert set(info["modules"]) == {"virtio_ring", "virtio", "virtio_pci_legacy_dev", "virtio_pci_modern_dev",
                                    "virtio_pci", "failover", "net_failover", "virtio_net", "llc", "stp", "bridge"}
    assert info["packages"] == {"busybox-static": "1:1.35.0-4"}
    assert info["kernel"]["package"] == PACKAGE and info["source_date_epoch"] == 0
    entries = read_cpio(gzip.decompress(a.initrd.read_bytes()))
    assert set(info["files"]) == {"/" + n for n, e in entries.items() if e["mode"] & 0o170000 == 0o100000}
    assert {e["mtime"] for e in entries.values()} == {0}
    assert "usr/lib/modules/bridge.ko" in entries and "usr/lib/modules/uio.ko" not in entries


def test_a_matching_manifest_skips_the_build(fixed_inputs):
    img = ensure_image("bridge", fixed_inputs / "cache")
    stamp = img.initrd.stat().st_mtime_ns, img.manifest.stat().st_mtime_ns
    again = ensure_image("bridge", fixed_inputs / "cache")
    assert again == img
    assert (img.initrd.stat().st_mtime_ns, img.manifest.stat().st_mtime_ns) == stamp
    forced = ensure_image("bridge", fixed_inputs / "cache", force=True)
    assert digest(forced.initrd) == img.info()["initrd"]["sha256"]


def test_a_changed_input_or_damaged_output_rebuilds(fixed_inputs, monkeypatch):
    img = ensure_image("bridge", fixed_inputs / "cache")
    first = digest(img.initrd)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    img2 = ensure_image("bridge", fixed_inputs / "cache")
    second = digest(img2.initrd)  # the same path is rebuilt below: keep its hash now
    assert second != first and img2.info()["source_date_epoch"] == 1700000000
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    (fixed_inputs / "busybox").write_bytes(tiny_elf({".text": b"busybox-static 1.36"}))
    img3 = ensure_image("bridge", fixed_inputs / "cache")
    assert digest(img3.initrd) not in (first, second)
    img3.initrd.write_bytes(b"damaged")
    img4 = ensure_image("bridge", fixed_inputs / "cache")
    assert digest(img4.initrd) == img3.info()["initrd"]["sha256"]


def test_each_forwarder_gets_only_its_modules(fixed_inputs):
    img = ensure_image("bridge", fixed_inputs / "cache")
    mods = img.info()["modules"]
    assert mods[-1] == "bridge" and {"llc", "stp"} <= set(mods[:-1])
    assert set(MODULES["bridge"]) == set(img.info()["modules"])


def test_a_dynamic_busybox_is_refused(fixed_inputs, monkeypatch):
    dyn = fixed_inputs / "busybox-dyn"
    # a PT_INTERP program header makes it dynamic
    elf = bytearray(tiny_elf({".text": b"x"}))
    struct.pack_into("<Q", elf, 32, len(elf))  # e_phoff: the program header goes at the end
    struct.pack_into("<HH", elf, 54, 56, 1)  # e_phentsize, e_phnum
    elf += struct.pack("<IIQQQQQQ", 3, 4, 0, 0, 0, 0, 0, 1)  # PT_INTERP
    dyn.write_bytes(bytes(elf))
    monkeypatch.setattr(image_mod, "BUSYBOX", str(dyn))
    with pytest.raises(ImageError, match="dynamically linked"):
        ensure_image("bridge", fixed_inputs / "cache")


def test_unknown_forwarder_and_kernel_package_are_refused(tmp_path):
    with pytest.raises(ImageError, match="unknown forwarder 'ovs'"):
        ensure_image("ovs", tmp_path)
    with pytest.raises(ImageError, match="not a linux-image-6.1"):
        image_mod.ensure_kernel(tmp_path, "linux-image-5.10.0-1-amd64")


def test_apt_answers_are_remembered_until_the_lists_change(tmp_path, monkeypatch):
    calls = []
    lists = tmp_path / "lists"
    lists.mkdir()
    monkeypatch.setattr(image_mod, "APT_LISTS", lists)
    monkeypatch.setattr(image_mod, "resolve_kernel_package", lambda: calls.append("depends") or PACKAGE)
    monkeypatch.setattr(image_mod, "candidate_version", lambda p: calls.append("policy") or "6.1.999-1")
    assert image_mod.resolve_kernel(tmp_path) == (PACKAGE, "6.1.999-1")
    assert image_mod.resolve_kernel(tmp_path) == (PACKAGE, "6.1.999-1")
    assert calls == ["depends", "policy"]
    os.utime(lists, ns=(1, 1))  # apt-get update
    image_mod.resolve_kernel(tmp_path)
    assert calls == ["depends", "policy"] * 2
    image_mod.resolve_kernel(tmp_path, PACKAGE)  # another question, another answer
    assert calls[-1] == "policy" and len(calls) == 5
