"""Names of the namespaces and interfaces a run creates: checked as the kernel
checks them, and derived from a run tag so two runs can never collide.

Interface names follow the kernel's dev_valid_name(): 1 to 15 bytes
(IFNAMSIZ - 1), no '/', ':' or whitespace, not "." or "..". Namespace names
become a file under /var/run/netns and follow iproute2's rule (no '/', not "."
or "..", at most NAME_MAX bytes); pktlab also refuses whitespace and control
characters there, so every name prints and journals as one word.

Derived names are "pl" + a 6-character tag + a suffix of up to 7 characters:
the tag has a fixed length, so different (tag, suffix) pairs give different
names, and everything a run made starts with link_prefix(tag).
"""
from __future__ import annotations

import hashlib
import re
import secrets

IFNAMSIZ = 16  # the kernel's buffer, NUL included: names are at most 15 bytes
NAME_MAX = 255
TAG_LEN = 6
PREFIX = "pl"  # interfaces
NETNS_PREFIX = "pktlab-"  # namespaces (ip netns list shows whose they are)
SUFFIX_MAX = IFNAMSIZ - 1 - len(PREFIX) - TAG_LEN  # 7

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
_TAG_RE = re.compile(rf"[0-9a-z]{{{TAG_LEN}}}")
_SUFFIX_RE = re.compile(r"[0-9a-z][0-9a-z_-]*")
# The kernel's isspace() (lib/ctype.c) also counts 0xa0, Latin-1 no-break space.
_KERNEL_SPACE = frozenset(b" \t\n\v\f\r\xa0")


def check_ifname(name) -> str | None:
    """Why `name` is not a valid Linux interface name, or None if it is."""
    if not isinstance(name, str):
        return f"an interface name must be a string, not {type(name).__name__}"
    if not name:
        return "an interface name cannot be empty"
    raw = name.encode("utf-8", "surrogateescape")
    if len(raw) > IFNAMSIZ - 1:
        return f"{name!r} is {len(raw)} bytes long; interface names are at most {IFNAMSIZ - 1} (IFNAMSIZ-1)"
    if name in (".", ".."):
        return f"{name!r} is not allowed as an interface name"
    for what, bad in (("'/'", lambda b: b == ord("/")), ("':'", lambda b: b == ord(":")),
                      ("whitespace", lambda b: b in _KERNEL_SPACE), ("a NUL byte", lambda b: b == 0)):
        if any(bad(b) for b in raw):
            return f"{name!r} contains {what}, which the kernel refuses in an interface name"
    return None


def check_netns_name(name) -> str | None:
    """Why `name` is not usable as a network namespace name, or None if it is."""
    if not isinstance(name, str):
        return f"a namespace name must be a string, not {type(name).__name__}"
    if not name:
        return "a namespace name cannot be empty"
    raw = name.encode("utf-8", "surrogateescape")
    if len(raw) > NAME_MAX:
        return f"a namespace name is a file name: at most {NAME_MAX} bytes, {name[:20]!r}... has {len(raw)}"
    if name in (".", ".."):
        return f"{name!r} is not allowed as a namespace name"
    if "/" in name:
        return f"{name!r} contains '/'; a namespace name is a file name under /var/run/netns"
    if any(c.isspace() or not c.isprintable() for c in name):
        return f"{name!r} contains whitespace or a control character"
    return None


def new_tag() -> str:
    """A random tag, for a run (or a test) that has no id of its own yet."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(TAG_LEN))


def tag_for(run_id: str) -> str:
    """The tag of a run: stable for a run id, so `restore` and a reader of the
    journal can tell which interfaces belong to which run."""
    n = int.from_bytes(hashlib.blake2b(run_id.encode(), digest_size=8).digest(), "big")
    out = []
    for _ in range(TAG_LEN):
        n, r = divmod(n, len(_ALPHABET))
        out.append(_ALPHABET[r])
    return "".join(out)


def _check_tag(tag: str) -> None:
    if not isinstance(tag, str) or not _TAG_RE.fullmatch(tag):
        raise ValueError(f"run tag {tag!r}: expected {TAG_LEN} characters of [0-9a-z] (see new_tag, tag_for)")


def link_prefix(tag: str) -> str:
    """What every interface name derived from `tag` starts with."""
    _check_tag(tag)
    return PREFIX + tag


def link_name(tag: str, suffix: str) -> str:
    """An interface name for `tag`, e.g. link_name("k3x9qa", "a0") == "plk3x9qaa0" (<= 15 bytes)."""
    _check_tag(tag)
    if not isinstance(suffix, str) or not _SUFFIX_RE.fullmatch(suffix) or len(suffix) > SUFFIX_MAX:
        raise ValueError(f"interface suffix {suffix!r}: expected 1 to {SUFFIX_MAX} characters of "
                         "[0-9a-z_-], starting with a letter or digit")
    name = PREFIX + tag + suffix
    assert check_ifname(name) is None, name
    return name


def netns_prefix(tag: str) -> str:
    """What every namespace name derived from `tag` starts with."""
    _check_tag(tag)
    return f"{NETNS_PREFIX}{tag}-"


def netns_name(tag: str, suffix: str) -> str:
    """A namespace name for `tag`, e.g. netns_name("k3x9qa", "gen") == "pktlab-k3x9qa-gen"."""
    _check_tag(tag)
    if not isinstance(suffix, str) or not _SUFFIX_RE.fullmatch(suffix) or len(suffix) > 32:
        raise ValueError(f"namespace suffix {suffix!r}: expected 1 to 32 characters of [0-9a-z_-]")
    return netns_prefix(tag) + suffix
