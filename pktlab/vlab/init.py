"""The virtual lab server's stage-1 /init (busybox, in the initramfs).

It loads what mounting needs, mounts the host's root (9p share `hostroot`,
read-only) under a tmpfs overlay, puts the guest kernel's modules tree, the
request channel (`vlabio`) and the results directory (`vlabout`, at the host's
own path) into it, hides the host's other mounts, and switches to the agent
(pktlab.vlab.agent) with the host's own Python. Parameters come from the kernel
command line: vlab.python= vlab.modules= vlab.release= vlab.out= vlab.hide=a,b
"""
from __future__ import annotations

from ..guest.initramfs import FAILED

IO_MOUNT = "/vlab/io"

_STAGE1 = r"""#!/bin/sh
export PATH=/bin
bb=/bin/busybox
fail() { echo "@FAILED@: stage 1: $*"; $bb sleep 1; $bb poweroff -f; }
$bb mount -t proc proc /proc
$bb mount -t sysfs sys /sys
$bb mount -t devtmpfs dev /dev
param() { for w in $($bb cat /proc/cmdline); do case "$w" in "$1="*) echo "${w#*=}";; esac; done; }
for m in @MODULES@; do $bb insmod /modules/$m.ko || fail "insmod $m"; done
opts=trans=virtio,version=9p2000.L,msize=512000
$bb mount -t 9p -o $opts,cache=loose,ro hostroot /lower || fail "mount the host root (9p hostroot)"
$bb mount -t tmpfs -o mode=0755 upper /upper || fail "tmpfs"
$bb mkdir -p /upper/u /upper/w
$bb mount -t overlay overlay -o lowerdir=/lower,upperdir=/upper/u,workdir=/upper/w /newroot \
    || fail "overlay on the host root"
n=/newroot
for d in proc sys dev run; do $bb mkdir -p $n/$d; done
$bb mount -t proc proc $n/proc
$bb mount -t sysfs sys $n/sys
$bb mount -t devtmpfs dev $n/dev
$bb mkdir -p $n/dev/pts $n/dev/shm $n/dev/hugepages
$bb mount -t devpts devpts $n/dev/pts
$bb mount -t tmpfs shm $n/dev/shm
$bb mount -t tmpfs -o mode=0755 run $n/run
for h in $(param vlab.hide | $bb tr , ' '); do $bb mount -t tmpfs hidden $n$h 2>/dev/null; done
rel=$(param vlab.release); mods=$(param vlab.modules)
$bb mkdir -p $n/lib/modules/$rel
$bb mount --bind /lower$mods $n/lib/modules/$rel || fail "modules tree $mods"
$bb mkdir -p $n@IO@
$bb mount -t 9p -o $opts,cache=none vlabio $n@IO@ || fail "mount vlabio"
out=$(param vlab.out)
$bb mkdir -p $n$out
$bb mount -t 9p -o $opts,cache=none vlabout $n$out || fail "mount vlabout at $out"
echo "pktlab vlab: stage 1 done, starting the agent"
exec $bb switch_root $n $(param vlab.python) -m pktlab.vlab.agent
fail "switch_root"
"""


def stage1_script(modules) -> str:
    return (_STAGE1.replace("@MODULES@", " ".join(modules)).replace("@FAILED@", FAILED)
            .replace("@IO@", IO_MOUNT))
