"""ConfigureVf's netlink request against the real kernel, as far as a machine
without an SR-IOV NIC allows: in a private namespace, a veth (which has no
VFs) gets the exact request ConfigureVf sends. The kernel parses the
IFLA_VFINFO_LIST and then answers EOPNOTSUPP (the driver has no VF ops); a
malformed VF attribute gets EINVAL instead. So the request is well formed
for the kernel; whether a given PF driver honours it needs the lab NIC.
"""
from __future__ import annotations

import errno
import os

import pytest
from pyroute2 import IPRoute, netns
from pyroute2.netlink.exceptions import NetlinkError

from pktlab.host import names
from pktlab.host.sriov import ConfigureVf, VfNetlink


@pytest.fixture
def ns():
    if os.geteuid() != 0:
        pytest.skip("needs root to create a network namespace (CI runs as root)")
    name = names.netns_name(names.new_tag(), "vf")
    with IPRoute(netns=name) as ipr:  # creates it
        ipr.link("add", ifname="pf0", kind="veth", peer="pf0p")
    yield name
    netns.remove(name)  # its veth goes with it


def test_configure_vf_request_is_parsed_by_the_kernel(ns):
    """Real kernel: the request reaches the driver (EOPNOTSUPP on a veth), a bad one does not (EINVAL)."""
    nl = VfNetlink(ns)
    index, vfs = nl.read("pf0")
    assert vfs == {}  # a veth reports no VFs
    step = ConfigureVf("pf0", 0, mac="02:00:00:00:00:0a", vlan=100, qos=1, spoofchk=False, trust=True)
    for req in (step.request(), {"vf": 0, "mac": "02:00:00:00:00:0a"}, {"vf": 0, "vlan": {"vlan": 0, "qos": 0}},
                {"vf": 0, "spoofchk": 1}, {"vf": 0, "trust": 0}):
        with pytest.raises(NetlinkError) as e:
            nl.set(index, req)
        assert e.value.code == errno.EOPNOTSUPP, req
    with pytest.raises(NetlinkError) as e:
        nl.set(index, {"vf": 0, "no_such_setting": 1})
    assert e.value.code == errno.EINVAL
    assert step.request() == {"vf": 0, "mac": "02:00:00:00:00:0a", "vlan": {"vlan": 100, "qos": 1},
                              "spoofchk": 0, "trust": 1}
