"""SR-IOV VF-to-VF: VFs created on one PF, each configured (MAC, port VLAN,
spoof check, trust) through the PF, VF 0 and VF 1 bound to vfio-pci and
driven by the generator directly. Frames from VF 0 to VF 1's MAC turn in the
NIC's embedded switch (VEB) and never reach the wire: the NIC's own
forwarding, the third bar next to OVS kernel and OVS-DPDK.

The PF stays on its kernel driver and is brought up (a VF has link only while
its PF has). The VFs' PCI addresses are known before they exist
(sriov_offset/sriov_stride), so the whole plan, bindings included, is data
from the start and `--dry-run` shows it.

Forwarded (dut_ports and gen_ports given; what a DUT on another host, [hosts].dut,
needs): the generator's NICs are cabled to two PFs, VFs are created on each with
the plan's MACs (and port VLAN), VF 0 of each is bound to vfio-pci, and DPDK testpmd
on the DUT forwards between them (mac mode: a frame leaves with its VF's own MAC
as source, which the spoof check wants, and the generator port's MAC as
destination). The generator sends to the VF MACs, so each PF's embedded switch
delivers the wire's frames to its VF by MAC: generator -> PF 0 -> VF -> testpmd ->
VF -> PF 1 -> generator, and back.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from pathlib import Path

from ..host.files import MakeRunDir
from ..host.links import SetLinkUp
from ..host.sriov import ConfigureVf, CreateVfs, VfCounters, vf_addresses, vfs_refusal
from ..host.testpmd import TESTPMD, StartTestpmd
from ..inventory import planner
from ..plan import Plan
from .lab import LabOptions, LabPath, pmd_index
from .p2p_generator import P2pGenerator
from .streams import sending_ports
from ..scenario.checks import MAC, Invalid, check_nic_names

DRIVEN = 2  # the generator drives VF 0 and VF 1


@dataclass(frozen=True)
class SriovVfOptions(LabOptions):
    """SR-IOV VF-to-VF: VFs created on one PF, configured, bound to vfio-pci and
    driven by the generator; frames between them turn in the NIC's embedded switch."""

    pf: str = ""  # the PF: PCI address or interface name
    vfs: int = 2  # VFs to create; the generator drives VF 0 and VF 1
    vf_macs: tuple[str, ...] = ()  # MAC of VF 0, VF 1, ...; default 02:00:00:00:<pf bus>:<vf>
    vlan: int = 0  # port VLAN the NIC tags and strips (0: none)
    qos: int = 0  # 802.1p priority with vlan
    spoofchk: bool = True  # the NIC drops frames whose source MAC is not the VF's
    trust: bool = False  # a trusted VF may change its MAC and go promiscuous
    # (allow_in_use: the PF may be up; it usually is, VFs need their PF's link)
    # Forwarded: two PFs cabled to the generator's NICs, testpmd on the DUT between a VF of each
    dut_ports: tuple[str, ...] = ()  # the PFs (instead of pf), cabled to gen_ports in order; vfs on each
    gen_ports: tuple[str, ...] = ()  # the generator's NICs, cabled to dut_ports
    generator: str = "dpdk"  # dpdk: gen_ports bound for DPDK; kernel: AF_XDP on their interfaces
    forward_mode: str = "mac"  # testpmd's: mac (source := the VF's MAC) or io (frames unchanged)
    forwarder_mem: int = 256  # testpmd's memory on the PFs' node [MiB]

    def check(self):
        if self.dut_ports:
            self._check_forwarded()
        elif not self.pf:
            raise Invalid("pf", "missing (required): the PF's PCI address or interface name")
        else:
            check_nic_names("pf", (self.pf,), 1)
            if self.gen_ports:
                raise Invalid("gen_ports", "the generator drives VFs of pf itself; name the PFs it is cabled "
                                           "to in dut_ports (instead of pf) to forward through the DUT")
        n = len(self.dut_ports) or 1
        if self.dut_ports and not 1 <= self.vfs <= 256:
            raise Invalid("vfs", "1 to 256 VFs on each PF (testpmd forwards between VF 0 of each)")
        if not self.dut_ports and not 2 <= self.vfs <= 256:
            raise Invalid("vfs", "2 to 256 VFs (the generator drives the first two)")
        for mac in self.vf_macs:
            if not MAC.match(mac):
                raise Invalid("vf_macs", f"{mac!r} is not a MAC address")
            if int(mac.split(":")[0], 16) & 1:
                raise Invalid("vf_macs", f"{mac} is a multicast address")
        if self.vf_macs and len(self.vf_macs) != self.vfs * n:
            order = " (the first PF's, then the second's)" if n > 1 else ""
            raise Invalid("vf_macs", f"{len(self.vf_macs)} MACs for {self.vfs * n} VFs: give one per VF{order}, "
                                     "or none")
        if len(set(m.lower() for m in self.vf_macs)) != len(self.vf_macs):
            raise Invalid("vf_macs", "two VFs with one MAC: the embedded switch could not tell them apart")
        if not 0 <= self.vlan <= 4094:
            raise Invalid("vlan", "0 (none) to 4094")
        if not 0 <= self.qos <= 7:
            raise Invalid("qos", "0 to 7")
        super().check()

    def _check_forwarded(self):
        if self.pf:
            raise Invalid("pf", "give either pf (the generator drives its VFs) or dut_ports (two PFs, testpmd "
                                "forwards between their VFs), not both")
        check_nic_names("dut_ports", self.dut_ports)
        check_nic_names("gen_ports", self.gen_ports)
        if len(self.dut_ports) != 2 or len(self.gen_ports) != 2:
            raise Invalid("dut_ports", "two PFs, each cabled to one of the two gen_ports")
        if set(self.dut_ports) & set(self.gen_ports):
            raise Invalid("gen_ports", "a NIC is either the generator's or the DUT's")
        if self.generator not in ("dpdk", "kernel"):
            raise Invalid("generator", f"must be dpdk or kernel, not {self.generator!r}")
        if self.forward_mode not in ("mac", "io"):
            raise Invalid("forward_mode", f"must be mac or io, not {self.forward_mode!r}")
        if self.forward_mode == "io" and self.spoofchk:
            raise Invalid("forward_mode", "io sends the generator's source MACs out of the VFs, which their "
                                          "spoof check drops: use mac, or spoofchk = false")
        if self.forwarder_mem < 64:
            raise Invalid("forwarder_mem", "must be at least 64 MiB")


class SriovVfPath(P2pGenerator, LabPath):
    kind, Options = "sriov-vf", SriovVfOptions
    two_hosts = True  # forwarded (dut_ports): the PFs, VFs and testpmd there, the generator here

    @property
    def forwarded(self) -> bool:
        return bool(self.options.dut_ports)

    @property
    def dpdk_generator(self) -> bool:
        return not self.forwarded or self.options.generator == "dpdk"

    def demand(self):
        if not self.forwarded:
            return self._demand((), (self.options.pf,))
        opt, dut = self.options, self.on_dut
        # testpmd takes the places OVS-DPDK would: its forwarding lcore a PMD's, its main lcore
        # OVS's lcore, its memory OVS's, all on the PFs' node
        d = self._demand(opt.dut_ports, opt.gen_ports)
        return self.gen_demand(dataclasses.replace(d, pmd_cores=int(dut), ovs_mem_mb=opt.forwarder_mem if dut else 0))

    def cores_used(self):
        used = super().cores_used()
        if self.forwarded and "ovs_pmd" in used:  # testpmd holds the places OVS's would: main, forwarding
            used["forwarder"] = [self.placement.ovs_lcore, *used.pop("ovs_pmd")]
        return used

    def explain(self):
        text = super().explain()
        if self.forwarded and self.on_dut:
            text += ("\n  note: testpmd forwards between the VFs: its main lcore is the OVS lcore above, its "
                     "forwarding lcore the PMD core, its memory OVS's")
        return text

    def nic_names(self):
        if self.forwarded:
            return [(pf, self.options.vfs) for pf in self.options.dut_ports] + [(g, 0) for g in self.options.gen_ports]
        return [(self.options.pf, self.options.vfs)]

    def needs_vfio(self):
        return self.on_dut or self.dpdk_generator

    def sending_nics(self):
        """Both VFs sit on the PF: its link speed is theirs."""
        if self.forwarded:
            return super().sending_nics()
        return [(self.options.pf, self.pf)] * len(sending_ports(self.scenario.traffic, DRIVEN))

    @property
    def pf(self):
        return self.nic(self.options.pf, "{where}.pf")

    def pfs(self) -> list:
        """The PFs whose VFs the run creates: pf, or the forwarded path's dut_ports."""
        if self.forwarded:
            return [self.nic(n, "{where}.dut_ports") for n in self.options.dut_ports]
        return [self.pf]

    def vf_macs(self, pf=None, i: int = 0) -> list[str]:
        """The VFs of a PF (pf, the i-th): as given, or 02:00:00:<PF bus>:<PF devfn>:<vf>,
        locally administered, unique per PF."""
        pf, n = pf or self.pf, self.options.vfs
        if self.options.vf_macs:
            return [m.lower() for m in self.options.vf_macs[i * n:(i + 1) * n]]
        _, bus, rest = pf.pci.split(":")
        slot, fn = rest.split(".")
        devfn = (int(slot, 16) << 3) | int(fn)
        return [f"02:00:00:{bus}:{devfn:02x}:{v:02x}" for v in range(n)]

    def vfs(self, pf=None) -> list[str]:
        return vf_addresses((pf or self.pf).pci, self.options.vfs, self.root)

    def precheck(self):
        if self.side == "tester" and not self.forwarded:  # before asking the DUT anything
            self.fail("{where}.dut_ports", "with the DUT on another host ([hosts].dut), sriov-vf forwards "
                                           "through it: name its two PFs in dut_ports (instead of pf), cabled "
                                           "to gen_ports, the generator's NICs here")
        super().precheck()

    def check_ports(self):
        if self.forwarded:
            self.check_forwarded()
            return
        self.check_extension()
        self.check_pf(self.pf, self.options.pf, "{where}.pf")

    def check_pf(self, pf, name: str, key: str):
        opt = self.options
        self.refuse_taking(pf, name, key)
        why = vfs_refusal(pf.pci, opt.vfs, self.root, allow_in_use=self.allowed(pf))
        if why:
            self.fail(key, why)
        if pf.ifname is None:
            self.fail(key, f"{name} ({pf.pci}) has no kernel interface: VFs are configured through the PF's "
                           "netdev; bind it to its network driver")
        try:
            self.vfs(pf)
        except ValueError as e:
            self.fail(key, str(e))
        vf_device = self._vf_device(pf)
        pmds = pmd_index().lookup(pf.vendor, vf_device)
        if not pmds:
            self.fail(key, f"no DPDK poll-mode driver installed here claims its VFs ({pf.vendor}:{vf_device})")
        status = self.inventory.drivers.get("vfio-pci")
        if status is not None and not status.available:
            self.fail(key, f"the VFs need vfio-pci: {status.detail}")

    def _vf_device(self, pf) -> str:
        from ..inventory.sysfs import read_attr

        return (read_attr(self.root, f"sys/bus/pci/devices/{pf.pci}/sriov_vf_device") or "?").lower()

    def check_forwarded(self):
        if self.on_dut:
            if not Path(self.root, TESTPMD.lstrip("/")).exists():
                self.fail("{where}.kind", f"sriov-vf forwards with DPDK testpmd on the DUT: {TESTPMD} not found "
                                          "(Debian: dpdk)")
            for name in self.options.dut_ports:
                self.check_pf(self.nic(name, "{where}.dut_ports"), name, "{where}.dut_ports")
        if self.on_tester:
            self.check_extension()
            self.check_gen_ports()

    def host_plan(self):
        if self.forwarded:
            return self.forwarded_plan()
        opt, pf = self.options, self.pf
        macs = self.vf_macs()
        steps = [MakeRunDir(str(self.run_dir)), *self.hugepage_steps(), SetLinkUp(pf.ifname, self.mtu()),
                 CreateVfs(pf.pci, opt.vfs, self.root, allow_in_use=self.allowed(pf))]
        steps += [ConfigureVf(pf.ifname, i, mac=macs[i], vlan=opt.vlan, qos=opt.qos if opt.vlan else 0,
                              spoofchk=opt.spoofchk, trust=opt.trust) for i in range(opt.vfs)]
        # The VFs appear with CreateVfs: their in-use check runs when the step does.
        steps += self.bind_steps([(vf, "vfio-pci", False) for vf in self.vfs()[:DRIVEN]])
        steps.append(self.runtime_dir(self.gen_prefix))
        return Plan(steps)

    def vf_steps(self, pf, i: int = 0) -> list:
        """The PF up, its VFs created and configured (MAC, port VLAN, spoof check, trust)."""
        opt, macs = self.options, self.vf_macs(pf, i)
        steps = [SetLinkUp(pf.ifname, self.mtu()), CreateVfs(pf.pci, opt.vfs, self.root, allow_in_use=self.allowed(pf))]
        return steps + [ConfigureVf(pf.ifname, v, mac=macs[v], vlan=opt.vlan, qos=opt.qos if opt.vlan else 0,
                                    spoofchk=opt.spoofchk, trust=opt.trust) for v in range(opt.vfs)]

    @property
    def fwd_prefix(self) -> str:
        return f"pktlab-fwd-{self.run_id}"

    def gen_macs(self) -> tuple[str, str]:
        """The generator ports' own MACs as its frames carry them (port 1's mirrored)."""
        t = self.scenario.traffic
        return t.src_mac.lower(), t.dst_mac.lower()

    def fwd_macs(self) -> list[str]:
        """The MAC of VF 0 of each PF (testpmd's ports): the DUT's, as its half planned them."""
        if self.side == "tester":  # the PFs are the DUT's: their defaults come from its PCI addresses
            return list(self.dut.export["vf_macs"])
        return [self.vf_macs(pf, i)[0] for i, pf in enumerate(self.pfs())]

    def dut_export(self):
        return {"vf_macs": self.fwd_macs()} if self.forwarded else {}

    def gen_l2(self):
        """Port i sends from its MAC to VF 0 of the PF it is cabled to, tagged with the port VLAN."""
        if not self.forwarded:
            return None
        vlan = self.options.vlan or None
        return [(mac, vf, vlan) for mac, vf in zip(self.gen_macs(), self.fwd_macs())]

    def forwarded_plan(self):
        steps = [MakeRunDir(str(self.run_dir))]
        if not self.on_dut:
            return Plan(steps + self.gen_steps())
        p, pfs = self.placement, self.pfs()
        steps += self.hugepage_steps()
        for i, pf in enumerate(pfs):
            steps += self.vf_steps(pf, i)
        vfs = [self.vfs(pf)[0] for pf in pfs]  # VF 0 of each PF: testpmd's ports 0 and 1
        steps += self.bind_steps([(vf, "vfio-pci", False) for vf in vfs])
        if self.on_tester:  # one host: the generator's hugepages are in the plan's already
            steps += self.gen_steps(hugepages=False)
        eal = ("--in-memory", "--no-telemetry", f"--huge-dir={self.huge_dir}",
               f"--socket-mem={planner.Placement.socket_mem(p.ovs_socket_mem)}", f"--file-prefix={self.fwd_prefix}")
        steps += [self.runtime_dir(self.fwd_prefix),
                  StartTestpmd(tuple(vfs), (p.ovs_lcore, *p.ovs_pmd), eal, str(self.run_dir / "testpmd.log"),
                               self.options.forward_mode, self.gen_macs())]
        return Plan(steps)

    def generator_step(self):
        if self.forwarded:
            return super().generator_step()
        macs = self.vf_macs()
        # VF 0 sends to VF 1's MAC and back; with spoofchk on, the source must be the VF's own
        traffic = dataclasses.replace(self.scenario.traffic, src_mac=macs[0], dst_mac=macs[1])
        return self.dpdk_generator_step(self.vfs()[:DRIVEN], traffic)

    def wait_ready(self, ctx):
        pfs = ", ".join(self.options.dut_ports) or self.options.pf
        cabled = f" to {', '.join(self.options.gen_ports)}" if self.forwarded else ""
        self.wait_links(ctx, 60 if self.forwarded else 30, f"a VF has link only while its PF has: is {pfs} "
                                                           f"cabled{cabled}?")

    def counters(self, ctx):
        if self.forwarded:  # VFs bound to vfio-pci have no kernel counters; testpmd's totals are in its log
            from ..remote.counters import NoCounters

            return NoCounters()
        return VfCounters(self.pf.ifname, range(DRIVEN), self.pf.driver)
