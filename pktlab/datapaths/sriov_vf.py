"""SR-IOV VF-to-VF: VFs created on one PF, each configured (MAC, port VLAN,
spoof check, trust) through the PF, VF 0 and VF 1 bound to vfio-pci and
driven by the generator directly. Frames from VF 0 to VF 1's MAC turn in the
NIC's embedded switch (VEB) and never reach the wire: the NIC's own
forwarding, the third bar next to OVS kernel and OVS-DPDK.

The PF stays on its kernel driver and is brought up (a VF has link only while
its PF has). The VFs' PCI addresses are known before they exist
(sriov_offset/sriov_stride), so the whole plan, bindings included, is data
from the start and `--dry-run` shows it.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..host.files import MakeRunDir
from ..host.links import SetLinkUp
from ..host.sriov import ConfigureVf, CreateVfs, VfCounters, vf_addresses, vfs_refusal
from ..plan import Plan
from .lab import LabOptions, LabPath, pmd_index
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

    def check(self):
        if not self.pf:
            raise Invalid("pf", "missing (required): the PF's PCI address or interface name")
        check_nic_names("pf", (self.pf,), 1)
        if not 2 <= self.vfs <= 256:
            raise Invalid("vfs", "2 to 256 VFs (the generator drives the first two)")
        for mac in self.vf_macs:
            if not MAC.match(mac):
                raise Invalid("vf_macs", f"{mac!r} is not a MAC address")
            if int(mac.split(":")[0], 16) & 1:
                raise Invalid("vf_macs", f"{mac} is a multicast address")
        if self.vf_macs and len(self.vf_macs) != self.vfs:
            raise Invalid("vf_macs", f"{len(self.vf_macs)} MACs for {self.vfs} VFs: give one per VF, or none")
        if len(set(m.lower() for m in self.vf_macs)) != len(self.vf_macs):
            raise Invalid("vf_macs", "two VFs with one MAC: the embedded switch could not tell them apart")
        if not 0 <= self.vlan <= 4094:
            raise Invalid("vlan", "0 (none) to 4094")
        if not 0 <= self.qos <= 7:
            raise Invalid("qos", "0 to 7")
        super().check()


class SriovVfPath(LabPath):
    kind, Options = "sriov-vf", SriovVfOptions
    def demand(self):
        return self._demand((), (self.options.pf,))

    def nic_names(self):
        return [(self.options.pf, self.options.vfs)]

    def sending_nics(self):
        """Both VFs sit on the PF: its link speed is theirs."""
        return [(self.options.pf, self.pf)] * len(sending_ports(self.scenario.traffic, DRIVEN))

    @property
    def pf(self):
        return self.nic(self.options.pf, "{where}.pf")

    def vf_macs(self) -> list[str]:
        """As given, or 02:00:00:<PF bus>:<PF devfn>:<vf>: locally administered, unique per PF."""
        if self.options.vf_macs:
            return [m.lower() for m in self.options.vf_macs]
        _, bus, rest = self.pf.pci.split(":")
        slot, fn = rest.split(".")
        devfn = (int(slot, 16) << 3) | int(fn)
        return [f"02:00:00:{bus}:{devfn:02x}:{i:02x}" for i in range(self.options.vfs)]

    def vfs(self) -> list[str]:
        return vf_addresses(self.pf.pci, self.options.vfs, self.root)

    def check_ports(self):
        self.check_extension()
        opt, key = self.options, "{where}.pf"
        pf = self.pf
        self.refuse_taking(pf, opt.pf, key)
        why = vfs_refusal(pf.pci, opt.vfs, self.root, allow_in_use=self.allowed(pf))
        if why:
            self.fail(key, why)
        if pf.ifname is None:
            self.fail(key, f"{opt.pf} ({pf.pci}) has no kernel interface: VFs are configured through the PF's "
                           "netdev; bind it to its network driver")
        try:
            self.vfs()
        except ValueError as e:
            self.fail(key, str(e))
        vf_device = self._vf_device()
        pmds = pmd_index().lookup(pf.vendor, vf_device)
        if not pmds:
            self.fail(key, f"no DPDK poll-mode driver installed here claims its VFs ({pf.vendor}:{vf_device})")
        status = self.inventory.drivers.get("vfio-pci")
        if status is not None and not status.available:
            self.fail(key, f"the VFs need vfio-pci: {status.detail}")

    def _vf_device(self) -> str:
        from ..inventory.sysfs import read_attr

        return (read_attr(self.root, f"sys/bus/pci/devices/{self.pf.pci}/sriov_vf_device") or "?").lower()

    def host_plan(self):
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

    def generator_step(self):
        macs = self.vf_macs()
        # VF 0 sends to VF 1's MAC and back; with spoofchk on, the source must be the VF's own
        traffic = dataclasses.replace(self.scenario.traffic, src_mac=macs[0], dst_mac=macs[1])
        return self.dpdk_generator_step(self.vfs()[:DRIVEN], traffic)

    def wait_ready(self, ctx):
        self.wait_links(ctx, 30, f"a VF has link only while its PF has: is {self.options.pf} cabled?")

    def counters(self, ctx):
        return VfCounters(self.pf.ifname, range(DRIVEN), self.pf.driver)
