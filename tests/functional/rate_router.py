"""A device under test that pktlab knows nothing about, built by the tests with `ip`
and `tc`: a router in the network namespace of the test's sshd (sshlab.py, so the
DUT host reached over SSH is the namespace the router lives in), cabled by two veth
pairs to a namespace of the generator's, with a tbf shaper on its egress port.

  gen ns:  ga ==veth==> da [router: 198.18.0.0/24 <-> 198.19.0.0/24] db ==veth==> gb
                                          tbf on db: RATE pps of 64 B frames

tbf counts skb->len, 60 B for a 64 B frame on a veth (no FCS), so N pps is
N * 480 bit/s (../shared/HOST-NOTES.md "Traffic control"; police is not available
on this kernel). Its bucket is small and its queue short: a trial above the rate
by more than (bucket + queue) / trial duration loses frames, while the queue takes
the catch-up bursts of a generator preempted for a few ms on a busy machine.
The generator's ends are left down, as a lab leaves a cabled NIC pktlab has to
bring up (and put back down). remove() deletes everything it made.
"""
from __future__ import annotations

import json
import random
import subprocess

SKB_BITS_64B = 60 * 8  # [bit] what tbf counts of one 64 B frame on a veth


def _ip(*argv, ns=None, check=True):
    cmd = ["ip"] + (["-n", ns] if ns else []) + [str(a) for a in argv]
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


def _sysctl(ns, key, value):
    subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw", f"{key}={value}"], check=True, capture_output=True)


class RateRouter:
    def __init__(self, router_ns: str, rate_pps: int, bucket_frames: int = 100, queue_frames: int = 1000,
                 gen_ns: str | None = ""):
        """gen_ns: the generator's namespace ("": one made here; None: the root namespace)."""
        tag = f"{random.randrange(36 ** 4):04x}"
        self.gen_ns, self.router_ns = (f"xgen{tag}" if gen_ns == "" else gen_ns), router_ns
        self.ga, self.gb, self.da, self.db = (f"xga{tag}", f"xgb{tag}", f"xda{tag}", f"xdb{tag}")
        self.rate_pps, self.bucket, self.queue = rate_pps, bucket_frames, queue_frames
        self.src_ip, self.dst_ip = "198.18.0.1", "198.19.0.1"  # the traffic table's defaults

    def build(self) -> "RateRouter":
        if self.gen_ns:
            _ip("netns", "add", self.gen_ns)
            _sysctl(self.gen_ns, "net.ipv6.conf.default.disable_ipv6", 1)
        _sysctl(self.router_ns, "net.ipv6.conf.default.disable_ipv6", 1)  # new interfaces: no RS, DAD, MLD
        for g, d in ((self.ga, self.da), (self.gb, self.db)):
            _ip("link", "add", g, *(("netns", self.gen_ns) if self.gen_ns else ()), "type", "veth", "peer", "name", d,
                "netns", self.router_ns)
            if not self.gen_ns:
                subprocess.run(["sysctl", "-qw", f"net.ipv6.conf.{g}.disable_ipv6=1"], check=True, capture_output=True)
        _sysctl(self.router_ns, "net.ipv4.ip_forward", 1)
        _ip("addr", "add", "198.18.0.254/24", "dev", self.da, ns=self.router_ns)
        _ip("addr", "add", "198.19.0.254/24", "dev", self.db, ns=self.router_ns)
        # the generator's ends answer no ARP: the router knows their MACs statically
        _ip("neigh", "add", self.src_ip, "lladdr", self.mac(self.ga), "dev", self.da, "nud", "permanent",
            ns=self.router_ns)
        _ip("neigh", "add", self.dst_ip, "lladdr", self.mac(self.gb), "dev", self.db, "nud", "permanent",
            ns=self.router_ns)
        subprocess.run(["ip", "netns", "exec", self.router_ns, "tc", "qdisc", "add", "dev", self.db, "root", "tbf",
                        "rate", f"{self.rate_pps * SKB_BITS_64B}bit", "burst", str(self.bucket * 60),
                        "limit", str(self.queue * 60)],  # [B] of skb->len
                       check=True, capture_output=True)
        for d in (self.da, self.db):
            _ip("link", "set", d, "up", ns=self.router_ns)
        return self

    def mac(self, ifname: str) -> str:
        ns = self.gen_ns if ifname in (self.ga, self.gb) else self.router_ns  # gen_ns None: the root namespace
        return json.loads(_ip("-j", "link", "show", ifname, ns=ns).stdout)[0]["address"]

    def link(self, ifname: str) -> tuple[bool, int]:
        """(up, MTU) of a generator end, to see it put back as it was."""
        [link] = json.loads(_ip("-j", "link", "show", ifname, ns=self.gen_ns).stdout)
        return "UP" in link["flags"], link["mtu"]

    def tbf_drops(self) -> int:
        out = subprocess.run(["ip", "netns", "exec", self.router_ns, "tc", "-s", "-j", "qdisc", "show", "dev",
                              self.db], check=True, capture_output=True, text=True).stdout
        return sum(q.get("drops", 0) for q in json.loads(out) if q.get("kind") == "tbf")

    def remove(self):
        for d in (self.da, self.db):
            _ip("link", "del", d, ns=self.router_ns, check=False)  # takes its veth peer with it
        if self.gen_ns:
            _ip("netns", "del", self.gen_ns, check=False)
