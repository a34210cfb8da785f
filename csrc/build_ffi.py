"""cffi API-mode builder of pktlab._pktgen, the C generator (csrc/).

setup.py names the module-level ``ffi`` in ``cffi_modules``; pip builds it at
install time against ``pkg-config libdpdk`` (the DPDK backend, pg_dpdk.c) and
``libxdp libbpf`` (the AF_XDP backend). The cdef is pktgen.h itself with its
preprocessor lines dropped, so the two cannot drift apart. Every .c file here
is part of it.
"""
import os
import re
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent


def _rel(name: str) -> str:
    # setuptools wants source paths relative to setup.py (the cwd when it builds)
    return os.path.relpath(HERE / name)


def _cdef_from_header(path: Path) -> str:
    out = []
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            # keep integer constants (cffi uses them for array sizes), drop guards/includes
            if re.match(r"#define\s+PG_\w+\s+\d+\s*$", line):
                out.append(line)
            continue
        out.append(line)
    return "\n".join(out)


ffi = FFI()
ffi.cdef(_cdef_from_header(HERE / "pktgen.h"))
# set_source(..., pkgconfig=) was silently ignored with DPDK; this one works.
ffi.set_source_pkgconfig(
    "pktlab._pktgen",
    ["libdpdk", "libxdp", "libbpf"],
    '#include "pktgen.h"',
    sources=[_rel(p.name) for p in sorted(HERE.glob("*.c"))],
    include_dirs=[_rel(".")],
    depends=[_rel(p.name) for p in sorted(HERE.glob("*.h"))],
    extra_compile_args=["-O3", "-Wall", "-Wextra", "-Wno-unused-parameter"],
)

if __name__ == "__main__":
    ffi.compile(verbose=True)
