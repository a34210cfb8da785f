"""Network namespaces a run creates and removes, and the netlink plumbing the
link steps share: a socket in a namespace, errors with errno and object, waits.

Two things about namespaces decide how this is written:

* A namespace lives as long as anything refers to it: its bind mount under
  /var/run/netns, a process inside it, or an open socket or fd made in it.
  pyroute2's IPRoute(netns=...) is such a socket. pktlab therefore never keeps
  one open across steps (one per apply/undo, closed at once); a cached socket
  would keep a "removed" namespace and its interfaces alive, unseen.
* Even with the last reference gone, the kernel destroys a namespace (and the
  veths in it, and their peers elsewhere) later, from a work queue. So
  RemoveNetns deletes the virtual interfaces inside first, synchronously, then
  unmounts: when undo returns, the peers in other namespaces are gone.

IPRoute(netns=name) *creates* the namespace if it is missing (flags=O_CREAT is
its default); every socket here is opened with flags=0, so an undo after the
namespace vanished finds it gone instead of making an empty one.
"""
from __future__ import annotations

import errno as _errno
import logging
import os
from contextlib import contextmanager
from dataclasses import dataclass

from pyroute2 import IPRoute, netns as _netns
from pyroute2.netlink.exceptions import NetlinkError

from .. import wait
from ..errors import StepError
from ..plan import Step
from .names import check_netns_name

log = logging.getLogger(__name__)

NETNS_RUN_DIR = _netns.NETNS_RUN_DIR  # /var/run/netns
WAIT_S = 5.0  # how long to wait for the kernel to show a change
POLL_S = 0.005

IFF_UP = 0x1
IFF_PROMISC = 0x100
IFF_LOWER_UP = 0x10000


def where(netns: str | None) -> str:
    return f"netns {netns}" if netns else "the root namespace"


class NetError(StepError):
    """A netlink or namespace operation failed: carries errno, the object and its namespace."""

    def __init__(self, op: str, obj: str, netns: str | None, errno: int, detail: str = ""):
        self.op, self.obj, self.netns, self.errno = op, obj, netns, errno
        name = _errno.errorcode.get(errno, str(errno))
        msg = f"{op} {obj} in {where(netns)}: {os.strerror(errno)} ({name})"
        super().__init__(msg + (f"; {detail}" if detail else ""))


def netns_path(name: str) -> str:
    return os.path.join(NETNS_RUN_DIR, name)


def netns_exists(name: str) -> bool:
    return os.path.exists(netns_path(name))


@contextmanager
def rtnl(netns: str | None, op: str, obj: str, missing_ok: bool = False):
    """An IPRoute socket in `netns` (None: pktlab's own namespace), closed on exit.

    Never creates the namespace. A missing namespace is a NetError (ENOENT),
    or, with missing_ok, yields None (for undo: its interfaces died with it).
    """
    try:
        ipr = IPRoute() if netns is None else IPRoute(netns=netns, flags=0)
    except FileNotFoundError:
        if missing_ok:
            yield None
            return
        raise NetError(op, obj, netns, _errno.ENOENT, f"namespace {netns} does not exist") from None
    except OSError as e:
        raise NetError(op, obj, netns, e.errno or _errno.EIO, f"cannot open a netlink socket there: {e}") from None
    try:
        yield ipr
    except NetlinkError as e:
        raise NetError(op, obj, netns, e.code) from None
    finally:
        ipr.close()


def get_link(ipr, ifname: str = None, index: int = None):
    """The link's RTM_NEWLINK message, or None if there is no such link."""
    try:
        if index is not None:
            return ipr.link("get", index=index)[0]
        return ipr.link("get", ifname=ifname)[0]
    except NetlinkError as e:
        if e.code == _errno.ENODEV:
            return None
        raise


def link_kind(msg) -> str | None:
    return msg.get_nested("IFLA_LINKINFO", "IFLA_INFO_KIND")


def wait_until(check, what: str, op: str, obj: str, netns: str | None, timeout: float = WAIT_S):
    """Poll `check()` until it returns a true value; ETIMEDOUT NetError naming `what` otherwise."""
    return wait.until(check, timeout, POLL_S, lambda _: NetError(
        op, obj, netns, _errno.ETIMEDOUT, f"the kernel did not show {what} within {timeout:.0f} s"))


def link_up(ipr, ifname: str, netns: str | None, index: int, timeout: float = WAIT_S):
    """Set IFF_UP and wait until the kernel shows it."""
    ipr.link("set", index=index, state="up")
    wait_until(lambda: (m := get_link(ipr, index=index)) is not None and m["flags"] & IFF_UP,
               "the interface up", "bring up", ifname, netns, timeout)


def delete_links_inside(name: str) -> list[str]:
    """Delete every virtual interface in namespace `name` (not lo, not a physical
    NIC moved in: the kernel hands those back to the root namespace). Returns their names."""
    gone = []
    with rtnl(name, "empty namespace", name, missing_ok=True) as ipr:
        if ipr is None:
            return gone
        for msg in ipr.get_links():
            ifname = msg.get("IFLA_IFNAME")
            if ifname == "lo" or link_kind(msg) is None:
                continue
            try:
                ipr.link("del", index=msg["index"])
                gone.append(ifname)
            except NetlinkError as e:
                if e.code not in (_errno.ENODEV, _errno.EOPNOTSUPP):  # a veth's peer went with it
                    raise NetError("delete", ifname, name, e.code) from None
    return gone


@dataclass
class AddNetns(Step):
    """A network namespace of pktlab's own, with lo up; undo removes it and every interface in it.

    An existing namespace of that name is an error: it is not pktlab's to remove.
    state: created (the namespace is ours), inode (its nsfs inode, to recognise it at undo).
    """

    kind = "netns"
    name: str

    def describe(self):
        return f"create network namespace {self.name} (lo up)"

    def describe_undo(self):
        return f"remove network namespace {self.name} and every interface in it"

    def apply(self, ctx):
        reason = check_netns_name(self.name)
        if reason:
            raise StepError(f"network namespace: {reason}")
        if netns_exists(self.name):
            raise NetError("create namespace", self.name, None, _errno.EEXIST,
                           "it exists already and is not pktlab's to remove (ip netns del it, or use another tag)")
        self.state["creating"] = True  # a kill from here on leaves a namespace that only we can have made
        ctx.journal_state()
        try:
            _netns.create(self.name)
        except FileExistsError:  # made by someone else since the check: not ours
            self.state.pop("creating")
            raise NetError("create namespace", self.name, None, _errno.EEXIST, "it appeared while pktlab created it") from None
        except OSError as e:
            raise NetError("create namespace", self.name, None, e.errno or _errno.EIO) from None
        self.state.update(created=True, inode=os.stat(netns_path(self.name)).st_ino)
        ctx.journal_state()
        with rtnl(self.name, "bring up lo", "lo") as ipr:
            link_up(ipr, "lo", self.name, ipr.link_lookup(ifname="lo")[0])

    def undo(self, ctx):
        if not (self.state.get("created") or self.state.get("creating")):
            return
        path = netns_path(self.name)
        try:
            inode = os.stat(path).st_ino
        except FileNotFoundError:
            return
        if self.state.get("inode") not in (None, inode):
            log.warning("%s is another namespace than the one pktlab created; leaving it", path)
            return
        if not os.path.ismount(path):
            # cut off between creating the mount point and binding the namespace onto it
            os.unlink(path)
            return
        delete_links_inside(self.name)
        try:
            _netns.remove(self.name)
        except FileNotFoundError:
            pass
        except OSError as e:
            raise NetError("remove namespace", self.name, None, e.errno or _errno.EIO) from None
