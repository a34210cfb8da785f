"""Building the guest image from Debian packages, reproducibly, into a cache.

A guest image is a kernel and an initramfs. The kernel is Debian's
`linux-image-6.1.*-amd64` (fetched with `apt-get download`, unpacked with
`dpkg-deb -x`); its XZ/LZMA/ZSTD/gzip payload is unpacked into an ELF vmlinux,
which QEMU boots directly through its PVH note (about twice as fast as the
vmlinuz under TCG). The initramfs holds busybox-static, the kernel modules the
forwarder needs (from the same kernel package), the forwarder's own programs
with their shared libraries, and an /init (see initramfs.py).

Same inputs, same bytes: the manifest (JSON) records every input (package
versions, file hashes, the /init's hash, SOURCE_DATE_EPOCH) and the outputs'
hashes; a build whose inputs match the manifest is skipped.

Cache layout (default /var/cache/pktlab/guest):
    kernel/<package>_<version>/  vmlinux, vmlinuz, config, modules/*.ko, kernel.json
    <forwarder>/                 initrd.img, manifest.json
"""
from __future__ import annotations

import bz2
import contextlib
import fcntl
import hashlib
import io
import json
import logging
import lzma
import os
import re
import shutil
import struct
import subprocess
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

from ..errors import PktlabError
from ..host import process
from . import initramfs
from .initramfs import FORWARDERS, MODULES, Cpio

log = logging.getLogger(__name__)

DEFAULT_CACHE = Path(os.environ.get("PKTLAB_GUEST_CACHE", "/var/cache/pktlab/guest"))
FORMAT = 1  # bump when the image layout changes: every cached image is rebuilt
KERNEL_META = "linux-image-amd64"
KERNEL_RE = re.compile(r"^linux-image-6\.1\.\d+-\d+-amd64$")
BUSYBOX = "/bin/busybox"
TC = "/usr/sbin/tc"
TESTPMD = "/usr/bin/dpdk-testpmd"
PMD_DIR = "/usr/lib/x86_64-linux-gnu/dpdk/pmds-23.0"
PMDS = ("librte_bus_pci.so.23", "librte_mempool_ring.so.23", "librte_net_virtio.so.23")
GZIP_LEVEL = 9
KERNEL_CMDLINE = "console=ttyS0,115200 quiet panic=-1 pci=noaer"


class ImageError(PktlabError):
    """The guest image cannot be built: names the input and the reason."""


@dataclass(frozen=True)
class GuestImage:
    kernel: Path  # vmlinux (ELF with a PVH note) or, failing that, the vmlinuz
    initrd: Path  # gzip'd newc cpio
    manifest: Path  # JSON: inputs and output hashes

    @property
    def forwarder(self) -> str:
        return self.info()["forwarder"]

    def info(self) -> dict:
        return json.loads(self.manifest.read_text())


def ensure_image(forwarder: str, cache_dir: Path | str = DEFAULT_CACHE, kernel_package: str | None = None,
                 force: bool = False) -> GuestImage:
    """The image for a forwarder, built on first use (or when an input changed).

    kernel_package: a `linux-image-6.1.*-amd64` package name, by default the one
    `linux-image-amd64` depends on in the apt lists.
    """
    if forwarder not in FORWARDERS:
        raise ImageError(f"unknown forwarder {forwarder!r}; known: {', '.join(FORWARDERS)}")
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    with _locked(cache / ".lock"):
        kdir = ensure_kernel(cache, kernel_package)
        kinfo = json.loads((kdir / "kernel.json").read_text())
        out = cache / forwarder
        image = GuestImage(kdir / kinfo["image"], out / "initrd.img", out / "manifest.json")
        t0 = time.monotonic()
        cpio, inputs = _collect(forwarder, kdir, kinfo)
        if not force and _up_to_date(image, inputs):
            log.info("guest image %s is up to date (%s)", forwarder, image.manifest)
            return image
        log.info("building the %s guest image in %s", forwarder, out)
        out.mkdir(parents=True, exist_ok=True)
        data = initramfs.gzip_bytes(cpio.to_bytes(inputs["source_date_epoch"]), GZIP_LEVEL)
        _write_atomic(image.initrd, data)
        manifest = dict(inputs, initrd={"file": image.initrd.name, "sha256": _sha(data), "bytes": len(data)})
        _write_atomic(image.manifest, (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode())
        log.info("built %s (%d bytes) in %.1f s", image.initrd, len(data), time.monotonic() - t0)
        return image


def _up_to_date(image: GuestImage, inputs: dict) -> bool:
    try:
        old = json.loads(image.manifest.read_text())
    except (OSError, ValueError):
        return False
    recorded = old.pop("initrd", None)
    return (old == inputs and recorded is not None and image.initrd.is_file()
            and _sha_file(image.initrd) == recorded["sha256"] and image.kernel.is_file())


# --- the kernel -----------------------------------------------------------------


def resolve_kernel_package() -> str:
    """linux-image-6.1.N-M-amd64, the package linux-image-amd64 depends on."""
    out = _run(["apt-cache", "depends", KERNEL_META], "apt-cache depends")
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("Depends:"):
            name = line.split(":", 1)[1].strip()
            if KERNEL_RE.match(name):
                return name
    raise ImageError(f"{KERNEL_META} depends on no linux-image-6.1.*-amd64 in the apt lists "
                     f"(run apt-get update?): {out.strip()[:300]}")


def candidate_version(package: str) -> str:
    out = _run(["apt-cache", "policy", package], "apt-cache policy")
    m = re.search(r"Candidate:\s*(\S+)", out)
    if not m or m.group(1) == "(none)":
        raise ImageError(f"no installable version of {package} in the apt lists (run apt-get update?)")
    return m.group(1)


APT_LISTS = Path("/var/lib/apt/lists")


def resolve_kernel(cache: Path, package: str | None = None) -> tuple[str, str]:
    """(package, version) to build from. apt-cache takes about a second, so its answer
    is remembered until the apt lists change (apt-get update)."""
    try:
        lists = APT_LISTS.stat().st_mtime_ns
    except OSError:
        lists = 0
    memo = cache / "kernel" / "resolved.json"
    try:
        doc = json.loads(memo.read_text())
        if doc["lists"] == lists and doc["asked"] == package:
            return doc["package"], doc["version"]
    except (OSError, ValueError, KeyError):
        pass
    name = package or resolve_kernel_package()
    if not KERNEL_RE.match(name):
        raise ImageError(f"kernel package {name!r} is not a linux-image-6.1.*-amd64")
    version = candidate_version(name)
    memo.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(memo, json.dumps({"lists": lists, "asked": package, "package": name,
                                    "version": version}).encode())
    return name, version


def ensure_kernel(cache: Path, package: str | None = None) -> Path:
    """kernel/<package>_<version>/ with vmlinux, vmlinuz and the modules any forwarder needs."""
    package, version = resolve_kernel(cache, package)
    kdir = cache / "kernel" / f"{package}_{version}"
    meta = kdir / "kernel.json"
    if meta.is_file():
        info = json.loads(meta.read_text())
        if (kdir / info["image"]).is_file() and _sha_file(kdir / info["image"]) == info["image_sha256"]:
            return kdir
    with tempfile.TemporaryDirectory(prefix="kernel-", dir=cache) as tmp:
        tmp = Path(tmp)
        log.info("downloading %s=%s", package, version)
        _run(["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root", f"{package}={version}"],
             f"apt-get download {package}={version}", cwd=tmp, timeout=600)
        [deb] = tmp.glob("*.deb")
        _run(["dpkg-deb", "-x", str(deb), str(tmp / "root")], f"dpkg-deb -x {deb.name}", timeout=600)
        release = package[len("linux-image-"):]
        boot, mods = tmp / "root" / "boot", tmp / "root" / "lib" / "modules" / release
        new = kdir.with_name(kdir.name + ".new")
        shutil.rmtree(new, ignore_errors=True)
        (new / "modules").mkdir(parents=True)
        vmlinuz = (boot / f"vmlinuz-{release}").read_bytes()
        (new / "vmlinuz").write_bytes(vmlinuz)
        shutil.copy(boot / f"config-{release}", new / "config")
        wanted = sorted({m for mods_ in MODULES.values() for m in mods_})
        found = {p.name.split(".ko")[0]: p for p in mods.rglob("*.ko*")}
        depends = {}
        for name in _closure(wanted, found):
            ko = _read_module(found[name])
            (new / "modules" / f"{name}.ko").write_bytes(ko)
            depends[name] = initramfs.module_depends(ko)
        try:
            vmlinux, fmt = extract_vmlinux(vmlinuz)
        except ImageError as e:
            log.warning("booting the compressed kernel (slower under TCG): %s", e)
            vmlinux, fmt = None, None
        if vmlinux is not None and not has_pvh_note(vmlinux):
            log.warning("the vmlinux has no PVH note; booting the vmlinuz (slower under TCG)")
            vmlinux = None
        if vmlinux is not None:
            (new / "vmlinux").write_bytes(vmlinux)
        image = kdir / ("vmlinux" if vmlinux is not None else "vmlinuz")
        info = {"package": package, "version": version, "release": release, "deb": deb.name,
                "deb_sha256": _sha_file(deb), "payload": fmt, "image": image.name,
                "image_sha256": _sha((new / image.name).read_bytes()),
                "module_depends": depends}
        (new / "kernel.json").write_text(json.dumps(info, indent=1, sort_keys=True) + "\n")
        shutil.rmtree(kdir, ignore_errors=True)
        new.rename(kdir)
    return kdir


def _closure(wanted, found):
    """Wanted modules and everything they depend on (read from the .ko files)."""
    todo, seen = list(wanted), []
    while todo:
        name = todo.pop(0)
        if name in seen:
            continue
        if name not in found:
            raise ImageError(f"kernel module {name} is not in the kernel package (built in?)")
        seen.append(name)
        todo += initramfs.module_depends(_read_module(found[name]))
    return seen


def _read_module(path: Path) -> bytes:
    data = path.read_bytes()
    if path.name.endswith(".ko.xz"):
        return lzma.decompress(data)
    if path.name.endswith(".ko.zst"):
        return _zstd(data)
    return data


_MAGICS = ((b"\xfd7zXZ\x00", "xz"), (b"\x5d\x00\x00", "lzma"), (b"\x28\xb5\x2f\xfd", "zstd"),
           (b"\x1f\x8b", "gzip"), (b"BZh", "bzip2"))


def extract_vmlinux(vmlinuz: bytes) -> tuple[bytes, str]:
    """The ELF kernel inside a bzImage, from the payload the setup header points at."""
    if vmlinuz[0x202:0x206] != b"HdrS":
        raise ImageError("not a bzImage (no HdrS setup header)")
    version = struct.unpack_from("<H", vmlinuz, 0x206)[0]
    if version < 0x208:
        raise ImageError(f"boot protocol {version:#x} has no payload_offset")
    setup_sects = vmlinuz[0x1F1] or 4
    offset, length = struct.unpack_from("<II", vmlinuz, 0x248)
    start = (setup_sects + 1) * 512 + offset
    payload = vmlinuz[start:start + length]
    fmt = next((name for magic, name in _MAGICS if payload.startswith(magic)), None)
    if fmt is None:
        raise ImageError(f"unknown kernel payload (starts {payload[:6].hex()})")
    if fmt == "xz":
        out = lzma.LZMADecompressor(lzma.FORMAT_XZ).decompress(payload)
    elif fmt == "lzma":
        out = lzma.LZMADecompressor(lzma.FORMAT_ALONE).decompress(payload)
    elif fmt == "gzip":
        out = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(payload)  # one member; the size trailer stays
    elif fmt == "bzip2":
        out = bz2.BZ2Decompressor().decompress(payload)
    else:
        out = _zstd(payload)
    if not out.startswith(b"\x7fELF"):
        raise ImageError(f"the {fmt} payload is not an ELF kernel")
    return out, fmt


def has_pvh_note(elf: bytes) -> bool:
    """Does the ELF carry XEN_ELFNOTE_PHYS32_ENTRY (18), which QEMU's -kernel needs?"""
    from elftools.elf.elffile import ELFFile

    for seg in ELFFile(io.BytesIO(elf)).iter_segments():
        if seg.header.p_type == "PT_NOTE":
            for note in seg.iter_notes():
                if note["n_name"] == "Xen" and note["n_type"] in (18, "XEN_ELFNOTE_PHYS32_ENTRY"):
                    return True
    return False


def _zstd(data: bytes) -> bytes:
    if shutil.which("zstd") is None:
        raise ImageError("a zstd-compressed kernel or module needs the zstd program (apt-get install zstd)")
    p = subprocess.run(["zstd", "-dc"], input=data, capture_output=True)
    if p.returncode != 0 and not p.stdout:
        raise ImageError(f"zstd -d failed: {p.stderr.decode().strip()}")
    return p.stdout


# --- the initramfs contents -----------------------------------------------------


def _collect(forwarder: str, kdir: Path, kinfo: dict) -> tuple[Cpio, dict]:
    """The cpio for a forwarder and the inputs that determine it."""
    order = initramfs.module_order(MODULES[forwarder], kinfo["module_depends"])
    cpio = Cpio()
    for d in ("proc", "sys", "dev", "tmp", "run", "bin", "usr/bin", "usr/sbin", "usr/lib64",
              "usr/lib/x86_64-linux-gnu"):
        cpio.dir(d)
    cpio.chardev("dev/console", 5, 1)
    cpio.chardev("dev/null", 1, 3, 0o666)
    for link, target in (("lib", "usr/lib"), ("lib64", "usr/lib64"), ("sbin", "usr/sbin")):
        cpio.symlink(link, target)
    _require_static(BUSYBOX)
    cpio.file("bin/busybox", Path(BUSYBOX).read_bytes(), 0o755)
    cpio.symlink("bin/sh", "busybox")
    for name in order:
        cpio.file(f"usr/lib/modules/{name}.ko", (kdir / "modules" / f"{name}.ko").read_bytes())
    script = initramfs.init_script(forwarder, order)
    cpio.file("init", script.encode(), 0o755)

    host = [BUSYBOX]
    if forwarder == "tc":
        host += _with_libraries(cpio, [TC])
    elif forwarder == "testpmd":
        pmds = [f"{PMD_DIR}/{p}" for p in PMDS]
        host += _with_libraries(cpio, [TESTPMD, *pmds])
    packages = _owning_packages(host)
    files = {}
    for guest, entry in sorted(cpio.entries.items()):
        if entry.mode & 0o170000 == 0o100000:
            files["/" + guest] = _sha(entry.data)
    inputs = {
        "format": FORMAT,
        "forwarder": forwarder,
        "kernel": {k: kinfo[k] for k in ("package", "version", "release", "deb_sha256", "payload", "image",
                                         "image_sha256")},
        "kernel_cmdline": KERNEL_CMDLINE,
        "modules": order,
        "packages": packages,
        "files": files,
        "init_sha256": _sha(script.encode()),
        "source_date_epoch": int(os.environ.get("SOURCE_DATE_EPOCH", "0")),
        "gzip_level": GZIP_LEVEL,
    }
    return cpio, inputs


def _with_libraries(cpio: Cpio, paths: list[str]) -> list[str]:
    """Copy programs and the shared libraries ldd finds for them; returns every host path."""
    if not Path(paths[0]).exists():
        raise ImageError(f"{paths[0]} not found (install its Debian package)")
    used = []
    for p in paths:
        if not Path(p).exists():
            raise ImageError(f"{p} not found (install its Debian package)")
        cpio.host_path(p)
        used.append(p)
        for lib in ldd(p):
            cpio.host_path(lib)
            used.append(lib)
    return sorted(set(used))


def ldd(path: str) -> list[str]:
    """The shared libraries a program or library loads, as the paths ldd resolves."""
    out = _run(["ldd", path], f"ldd {path}")
    libs = []
    for line in out.splitlines():
        line = line.strip()
        if "=>" in line:
            target = line.split("=>", 1)[1].strip().split(" (")[0].strip()
            if target == "not found":
                raise ImageError(f"{path}: {line.split()[0]} not found")
            if target:
                libs.append(target)
        elif line.startswith("/"):
            libs.append(line.split(" (")[0])
    return libs


def _require_static(path: str) -> None:
    from elftools.elf.elffile import ELFFile

    try:
        with open(path, "rb") as fh:
            if any(s.header.p_type == "PT_INTERP" for s in ELFFile(fh).iter_segments()):
                raise ImageError(f"{path} is dynamically linked; install busybox-static")
    except FileNotFoundError:
        raise ImageError(f"{path} not found: apt-get install busybox-static") from None


def _owning_packages(paths: list[str]) -> dict[str, str]:
    """{package: version} for the Debian packages the host files come from."""
    queries = set()
    for p in paths:
        real = os.path.realpath(p)
        for c in (p, real):
            queries.add(c)
            queries.add(c[4:] if c.startswith("/usr/") else "/usr" + c)
    p = subprocess.run(["dpkg", "-S", *sorted(queries)], capture_output=True, text=True)
    names = set()
    for line in p.stdout.splitlines():
        if ": " in line and not line.startswith("diversion"):
            for pkg in line.split(": ", 1)[0].split(","):
                names.add(pkg.strip().split(":")[0])
    if not names:
        return {}
    out = _run(["dpkg-query", "-W", "-f", "${Package} ${Version}\\n", *sorted(names)], "dpkg-query")
    return dict(sorted(line.split(" ", 1) for line in out.splitlines() if line.strip()))


# --- helpers --------------------------------------------------------------------


def _run(cmd, what, cwd=None, timeout=120) -> str:
    return process.run(cmd, timeout=timeout, what=what, cwd=cwd, error=ImageError)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _sha_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


@contextlib.contextmanager
def _locked(path: Path):
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
