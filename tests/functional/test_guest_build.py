"""The real image build from Debian packages: reproducible bytes, a bootable
vmlinux, and `pktlab guest build` skipping what is up to date. Network: the
Debian archive, once, for the kernel package (cached afterwards)."""
from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import shutil

import pytest

from pktlab import guest
from pktlab.guest.image import DEFAULT_CACHE, ensure_image, has_pvh_note
from pktlab.guest.initramfs import read_cpio

pytestmark = pytest.mark.root


@pytest.fixture(autouse=True)
def root():
    if os.geteuid() != 0:
        pytest.skip("needs root: apt-get download and the image cache")


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_bridge_image_is_reproducible_and_independent_of_where_it_is_built(tmp_path):
    img = ensure_image("bridge", DEFAULT_CACHE)
    first = sha(img.initrd)
    assert img.info()["initrd"]["sha256"] == first
    again = ensure_image("bridge", DEFAULT_CACHE, force=True)
    assert sha(again.initrd) == first
    # another cache (the kernel copied, not downloaded again): the same bytes and manifest
    other = tmp_path / "cache"
    shutil.copytree(img.kernel.parent, other / "kernel" / img.kernel.parent.name)
    elsewhere = ensure_image("bridge", other)
    assert sha(elsewhere.initrd) == first
    assert elsewhere.info() == img.info()


def test_the_kernel_is_an_uncompressed_pvh_elf_from_the_debian_package():
    img = ensure_image("bridge", DEFAULT_CACHE)
    kinfo = json.loads((img.kernel.parent / "kernel.json").read_text())
    assert kinfo["package"].startswith("linux-image-6.1.") and kinfo["package"].endswith("-amd64")
    assert img.kernel.name == "vmlinux" and kinfo["payload"] in ("xz", "lzma", "zstd", "gzip")
    data = img.kernel.read_bytes()
    assert data[:4] == b"\x7fELF" and has_pvh_note(data)
    assert hashlib.sha256(data).hexdigest() == kinfo["image_sha256"] == img.info()["kernel"]["image_sha256"]


@pytest.mark.parametrize("fwd, must_have", [
    ("bridge", ["bin/busybox", "init", "usr/lib/modules/bridge.ko", "dev/console"]),
    ("tc", ["usr/sbin/tc", "usr/lib/modules/act_mirred.ko", "usr/lib64/ld-linux-x86-64.so.2"]),
    ("testpmd", ["usr/bin/dpdk-testpmd", "usr/lib/modules/uio_pci_generic.ko",
                 "usr/lib/x86_64-linux-gnu/dpdk/pmds-23.0/librte_net_virtio.so.23"]),
])
def test_each_image_holds_its_forwarder(fwd, must_have):
    img = ensure_image(fwd, DEFAULT_CACHE)
    entries = read_cpio(gzip.decompress(img.initrd.read_bytes()))
    for path in must_have:
        assert path in entries, f"{fwd}: {path} missing"
    info = img.info()
    assert "busybox-static" in info["packages"]
    if fwd == "testpmd":
        assert "dpdk" in info["packages"] or any(p.startswith("librte-") for p in info["packages"])
        assert info["initrd"]["bytes"] < 20_000_000


def test_cli_build_reports_up_to_date_images(capsys):
    ap = argparse.ArgumentParser()
    guest.add_build_arguments(ap)
    ensure_image("bridge", DEFAULT_CACHE)
    assert guest.cli_build(ap.parse_args(["bridge", "--cache-dir", str(DEFAULT_CACHE)])) == 0
    out = capsys.readouterr().out
    assert out.startswith("bridge: up to date\n") and "initrd" in out and "manifest" in out
