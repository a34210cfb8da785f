"""The virtual lab server's kernel, its modules and a small initramfs.

The kernel is the PVP guest's (Debian's generic `linux-image-amd64`, fetched and
unpacked by pktlab.guest.image.ensure_kernel). The guest's userland is the host's
own root filesystem, so it needs the *whole* modules tree of that kernel (igb,
igbvf, vfio-pci, openvswitch, ...): it is unpacked once from the same .deb into
the cache, with `depmod`'s index, and the guest's init bind-mounts it at
/lib/modules/<release>. The initramfs holds only busybox, what mounting the
shared root takes (virtio-pci, 9p, overlay) and the stage-1 init.

Cache layout (under the guest cache, default /var/cache/pktlab/guest):
    vlab/modules/<package>_<version>/lib/modules/<release>/   the full tree, depmod'ed
    vlab/initrd-<package>_<version>.img
"""
from __future__ import annotations

import json
import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..guest import image as gimage
from ..guest.image import DEFAULT_CACHE, ImageError
from ..guest.initramfs import Cpio, gzip_bytes, module_depends, module_order
from .init import stage1_script

log = logging.getLogger(__name__)

# What mounting the shared root needs, dependencies first where the .ko says so.
STAGE1_MODULES = ("virtio_pci", "9pnet_virtio", "9p", "overlay")


@dataclass(frozen=True)
class VlabImage:
    kernel: Path
    initrd: Path
    modules: Path  # .../lib/modules/<release>
    release: str
    package: str
    version: str


def ensure_image(cache_dir: Path | str = DEFAULT_CACHE, kernel_package: str | None = None) -> VlabImage:
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    with gimage._locked(cache / ".lock"):
        kdir = gimage.ensure_kernel(cache, kernel_package)
        kinfo = json.loads((kdir / "kernel.json").read_text())
        tag = f"{kinfo['package']}_{kinfo['version']}"
        modules = ensure_modules(cache / "vlab" / "modules" / tag, kinfo)
        initrd = cache / "vlab" / f"initrd-{tag}.img"
        data = build_initrd(modules)
        if not initrd.is_file() or initrd.read_bytes() != data:
            gimage._write_atomic(initrd, data)
        return VlabImage(kdir / kinfo["image"], initrd, modules, kinfo["release"], kinfo["package"],
                         kinfo["version"])


def ensure_modules(base: Path, kinfo: dict) -> Path:
    """base/lib/modules/<release>: every module of the kernel package, with modules.dep."""
    tree = base / "lib" / "modules" / kinfo["release"]
    if (tree / "modules.dep").is_file():
        return tree
    base.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="vlab-modules-", dir=base.parent) as tmp:
        tmp = Path(tmp)
        pkg = f"{kinfo['package']}={kinfo['version']}"
        log.info("unpacking every module of %s for the virtual lab server", pkg)
        gimage._run(["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root", pkg],
                    f"apt-get download {pkg}", cwd=tmp, timeout=600)
        [deb] = tmp.glob("*.deb")
        gimage._run(["dpkg-deb", "-x", str(deb), str(tmp / "root")], f"dpkg-deb -x {deb.name}", timeout=600)
        new = tmp / "tree"
        (new / "lib" / "modules").mkdir(parents=True)
        shutil.move(str(tmp / "root" / "lib" / "modules" / kinfo["release"]), new / "lib" / "modules")
        gimage._run(["depmod", "-b", str(new), kinfo["release"]], "depmod", timeout=300)
        shutil.rmtree(base, ignore_errors=True)
        new.rename(base)
    return tree


def build_initrd(tree: Path) -> bytes:
    """busybox, the stage-1 modules and /init, byte for byte the same for the same tree."""
    found = {p.name.split(".ko")[0]: p for p in tree.rglob("*.ko*")}
    depends: dict[str, list[str]] = {}
    todo = list(STAGE1_MODULES)
    while todo:
        name = todo.pop()
        if name in depends:
            continue
        if name not in found:
            raise ImageError(f"kernel module {name} is not in {tree}")
        depends[name] = module_depends(gimage._read_module(found[name]))
        todo += depends[name]
    order = module_order(STAGE1_MODULES, depends)
    cpio = Cpio()
    for d in ("proc", "sys", "dev", "lower", "upper", "newroot", "bin"):
        cpio.dir(d)
    cpio.chardev("dev/console", 5, 1)
    cpio.chardev("dev/null", 1, 3, 0o666)
    gimage._require_static(gimage.BUSYBOX)
    cpio.file("bin/busybox", Path(gimage.BUSYBOX).read_bytes(), 0o755)
    cpio.symlink("bin/sh", "busybox")
    for name in order:
        cpio.file(f"modules/{name}.ko", gimage._read_module(found[name]))
    cpio.file("init", stage1_script(order).encode(), 0o755)
    return gzip_bytes(cpio.to_bytes(0), 6)
