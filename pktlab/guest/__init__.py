"""The PVP guest: a Debian kernel and a busybox initramfs whose /init forwards
between two NICs (kernel bridge, tc mirred, or DPDK testpmd), built reproducibly
from Debian packages, and a plan step that runs it under QEMU on vhost-user.

    image = ensure_image("testpmd")                  # built on first use, then cached
    step = StartGuest(name="vm0", kernel=str(image.kernel), initrd=str(image.initrd),
                      run_dir=..., nics=((sock0, mac0, "server"), (sock1, mac1, "server")),
                      hugepage_dir=..., mem_mb=1024, vcpus=1, vcpu_pins=(1,), emulator_cores=(0,))
"""
from __future__ import annotations

import time

from .accel import Accel, decide as decide_accel
from .console import Console, ConsoleFailure
from .image import DEFAULT_CACHE, GuestImage, ImageError, ensure_image
from .initramfs import FAILED, FORWARDERS, READY
from .qemu import QmpClient, QmpError, StartGuest, qemu_command

__all__ = ["Accel", "Console", "ConsoleFailure", "DEFAULT_CACHE", "FAILED", "FORWARDERS", "GuestImage",
           "ImageError", "QmpClient", "QmpError", "READY", "StartGuest", "add_build_arguments", "cli_build",
           "decide_accel", "ensure_image", "qemu_command"]


def add_build_arguments(ap) -> None:
    """The options of `pktlab guest build` (ap: an argparse parser)."""
    from pathlib import Path

    ap.add_argument("forwarders", nargs="*", choices=[[], *FORWARDERS], metavar="FORWARDER",
                    help=f"which images ({', '.join(FORWARDERS)}; default: all)")
    ap.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help="image cache (default: %(default)s)")
    ap.add_argument("--kernel-package", default=None,
                    help="linux-image-6.1.*-amd64 package (default: the one linux-image-amd64 depends on)")
    ap.add_argument("--force", action="store_true", help="rebuild even if the manifest matches")


def cli_build(args) -> int:
    """`pktlab guest build`: build (or find up to date) each image, print what and where."""
    forwarders = list(getattr(args, "forwarders", None) or FORWARDERS)
    for fwd in forwarders:
        manifest = args.cache_dir / fwd / "manifest.json"
        before = manifest.stat().st_mtime_ns if manifest.exists() else None
        t0 = time.monotonic()
        img = ensure_image(fwd, args.cache_dir, getattr(args, "kernel_package", None),
                           force=getattr(args, "force", False))
        took = time.monotonic() - t0
        info = img.info()
        state = "up to date" if manifest.stat().st_mtime_ns == before else f"built in {took:.1f} s"
        print(f"{fwd}: {state}\n"
              f"  kernel  {img.kernel} ({info['kernel']['package']} {info['kernel']['version']}, "
              f"{img.kernel.stat().st_size / 1e6:.1f} MB)\n"
              f"  initrd  {img.initrd} ({info['initrd']['bytes'] / 1e6:.1f} MB, sha256 {info['initrd']['sha256'][:16]})\n"
              f"  manifest {img.manifest}")
    return 0
