"""The virtual lab server's QEMU command line (pure: the unit tests read it).

Every device names its bus: a device without one may land on a pxb-pcie, which
takes only bridges ("Only PCI/PCIe bridges can be plugged into pxb-pcie").
The host's root filesystem is the 9p share `hostroot` (read-only); `vlabio`
(requests and answers) and `vlabout` (the results directory) are writable.

Every PCI window stays below 4 GiB. QEMU 10.0 maps an SR-IOV VF's 64-bit BAR at
its low 32 bits only (VF BAR 0xc020000000 was mapped at 0x20000000: the VF's
registers read 0, its mailbox never reaches the PF, and igbvf or DPDK's igbvf
PMD give up with "PF still resetting"). SeaBIOS puts 64-bit windows above 4 GiB
when the vCPU has 36 or more physical address bits and there is RAM above 4 GiB,
so the vCPU gets 35 (the 64-bit PCI hole shrinks to fit them) and each root port
a 32-bit prefetchable window that holds its PF's VF BARs.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .topology import Topology

# loglevel=5: warnings and errors (a hung task, a driver failing) reach the console the host shows
KERNEL_CMDLINE = "console=ttyS0,115200 loglevel=5 panic=-1 pci=noaer intel_iommu=on iommu=pt"
SHARES = ("hostroot", "vlabio", "vlabout")
HOLE64 = "4G"  # RAM above 4 GiB plus this hole must fit in the vCPU's 35 physical address bits
VF_WINDOW = "2M"  # each root port's 32-bit prefetchable window: 7 VFs x 2 BARs x 16 KiB fit
# One TCG thread for all vCPUs: under multi-threaded TCG (QEMU 10.0.2) a vCPU of the server stopped
# for good, halted with its APIC timer vector in service and never EOI'd (ISR 236, IRR 34 35 36 38
# 236, PPR 0xe0: `info lapic`), RCU stalls on the console, the agent silent (1 of 3 lab comparisons)
MULTI_TCG, SINGLE_TCG = "tcg,thread=multi", "tcg,thread=single"
PXB_SLOT = 0x10  # node N's pxb-pcie sits at 00:(0x10+N).0; the management NIC and 9p shares from 00:02.0


@dataclass(frozen=True)
class Boot:
    """What one boot needs besides the topology."""

    kernel: str
    initrd: str
    run_dir: str  # QMP and console sockets, console log
    io_dir: str  # shared read-write as vlabio
    out_dir: str  # shared read-write as vlabout, mounted at the same path inside
    append: str = ""  # vlab.* parameters for the guest's init
    accel_args: tuple[str, ...] = ("-accel", "tcg,thread=multi")
    cpu: str = "max,pdpe1gb,phys-bits=35"  # 1 GiB pages need pdpe1gb; phys-bits: see above
    qemu: str = "qemu-system-x86_64"
    name: str = "vlab"
    # Two hosts (issue 14): NICs cabled to a tap on this machine instead of their peer in the
    # VM ((nic name, tap name), ...; QEMU creates each tap and it goes with QEMU), and the
    # management NIC's TCP port 22 forwarded from 127.0.0.1:ssh_port (an sshd inside)
    taps: tuple[tuple[str, str], ...] = ()
    ssh_port: int | None = None


def qemu_command(topo: Topology, b: Boot) -> list[str]:
    run = Path(b.run_dir)
    accel = [SINGLE_TCG if a == MULTI_TCG else a for a in b.accel_args]
    if "-cpu" in accel:  # the accel's CPU choice gives way to one with pdpe1gb
        i = accel.index("-cpu")
        del accel[i:i + 2]
    cmd = [b.qemu, "-name", f"{b.name},debug-threads=on", *accel, "-cpu", b.cpu,
           # kernel-irqchip=split: intremap needs it under KVM; harmless under TCG
           "-machine", "q35" + (",kernel-irqchip=split" if "-enable-kvm" in accel else ""),
           "-global", f"q35-pcihost.pci-hole64-size={HOLE64}",
           "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot", "-S",
           "-smp", str(topo.vcpus), "-m", f"{topo.mem_mb}M",
           "-device", "intel-iommu,intremap=on,caching-mode=on"]
    for n in topo.nodes:
        cpus = f"{min(n.cpus)}-{max(n.cpus)}" if len(n.cpus) > 1 else str(n.cpus[0])
        cmd += ["-object", f"memory-backend-ram,id=m{n.node_id},size={n.mem_mb}M",
                "-numa", f"node,nodeid={n.node_id},cpus={cpus},memdev=m{n.node_id}"]
    for n in topo.nodes:
        cmd += ["-device", f"pxb-pcie,id=pxb{n.node_id},bus_nr={n.bus_nr},numa_node={n.node_id},bus=pcie.0,"
                           f"addr={PXB_SLOT + n.node_id:#x}"]
    taps = dict(b.taps)
    for i, nic in enumerate(topo.nics):
        rp = f"rp{i}"
        netdev = (f"tap,id={nic.name},ifname={taps[nic.name]},script=no,downscript=no" if nic.name in taps
                  else f"hubport,id={nic.name},hubid={nic.cable}")
        cmd += ["-device", f"pcie-root-port,id={rp},bus=pxb{nic.node},chassis={i + 1},addr={nic.port:#x},"
                           f"pref32-reserve={VF_WINDOW}",
                "-netdev", netdev,
                "-device", f"{nic.model},netdev={nic.name},mac={nic.mac},bus={rp},addr=0x0"]
    fwd = f",hostfwd=tcp:127.0.0.1:{b.ssh_port}-:22" if b.ssh_port else ""
    cmd += ["-netdev", f"user,id=mgmt,restrict=on{fwd}",
            "-device", f"virtio-net-pci,netdev=mgmt,mac={topo.mgmt_mac},bus=pcie.0,addr={topo.mgmt_slot:#x}"]
    shares = (("hostroot", "/", True), ("vlabio", b.io_dir, False), ("vlabout", b.out_dir, False))
    for slot, (tag, path, ro) in enumerate(shares, start=topo.mgmt_slot + 1):
        cmd += ["-fsdev", f"local,id={tag},path={path},security_model=none,multidevs=remap"
                          + (",readonly=on" if ro else ""),
                "-device", f"virtio-9p-pci,fsdev={tag},mount_tag={tag},bus=pcie.0,addr={slot:#x}"]
    # 1 GiB pages are reserved at boot, as on a lab server: the kernel spreads them over the nodes
    huge = (f"hugepagesz=1G hugepages=" + ",".join(f"{n.node_id}:{topo.boot_1g_pages}" for n in topo.nodes)
            if topo.boot_1g_pages else "")
    cmd += ["-kernel", b.kernel, "-initrd", b.initrd,
            "-append", " ".join(x for x in (KERNEL_CMDLINE, huge, b.append) if x),
            "-chardev", f"socket,id=console,path={run / 'console.sock'},server=on,wait=off,"
                        f"logfile={run / 'console.log'},logappend=off",
            "-serial", "chardev:console",
            "-chardev", f"socket,id=qmp,path={run / 'qmp.sock'},server=on,wait=off",
            "-mon", "chardev=qmp,mode=control"]
    return cmd
