"""Flow fields of a scenario's traffic: which header fields step with the flow
and over which range, as `[traffic] flow_fields` spells them:

    flow_fields = { src_ip = "198.18.0.0/12", dst_ip = "198.19.0.0-198.19.0.255",
                    src_port = "1024-65535", vlan = "100-199", vni = "5000-5999" }

Flow g (0 .. flows-1) has in each field its range's first value + g % the
range's size: fields step together and wrap at their own size, so ranges of
coprime sizes cover every combination of their values. A range larger than
`flows` is used only up to `flows` values. The generator varies a 32-bit word
per address: an IPv6 range stays within one /96.
"""
from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass

from .checks import Invalid

MAX_FLOWS = 1 << 24  # the generator's PG_MAX_FLOWS
ADDRESS_FIELDS = ("src_ip", "dst_ip")
NUMBER_FIELDS = {  # field -> (lowest, highest, what)
    "src_port": (0, 65535, "a UDP port is 0-65535"),
    "dst_port": (0, 65535, "a UDP port is 0-65535"),
    "vlan": (1, 4094, "a VLAN ID is 1-4094 (0 and 4095 are reserved)"),
    "outer_vlan": (1, 4094, "a VLAN ID is 1-4094 (0 and 4095 are reserved)"),
    "vni": (0, (1 << 24) - 1, "a VNI is 24 bits: 0-16777215"),
}
FIELDS = ADDRESS_FIELDS + tuple(NUMBER_FIELDS)
# the direction port 1 -> port 0 sends the mirror image
MIRROR = {"src_ip": "dst_ip", "dst_ip": "src_ip", "src_port": "dst_port", "dst_port": "src_port"}


@dataclass(frozen=True)
class FieldRange:
    """One varied field: its first value (an address as text, or a number) and size."""

    field: str
    first: str | int
    size: int  # values in the range

    def used(self, flows: int) -> int:
        """Values the generator steps through for `flows` flows [1]."""
        return min(self.size, flows)


def _address_range(key: str, text: str, version: int) -> tuple[str, int]:
    family = f"IPv{version}"
    if "/" in text:
        try:
            net = ipaddress.ip_network(text, strict=True)
        except ValueError as e:
            raise Invalid(key, f"{text!r} is not an {family} prefix: {e}") from None
        first, last = net.network_address, net.broadcast_address
    elif "-" in text:
        lo, _, hi = text.partition("-")
        try:
            first, last = ipaddress.ip_address(lo.strip()), ipaddress.ip_address(hi.strip())
        except ValueError as e:
            raise Invalid(key, f"{text!r} is not a range FIRST-LAST of addresses: {e}") from None
        if first.version != last.version:
            raise Invalid(key, f"{text!r} mixes IPv4 and IPv6")
        if last < first:
            raise Invalid(key, f"{text!r}: the last address is below the first")
    else:
        raise Invalid(key, f"{text!r}: give a prefix (198.18.0.0/15) or a range FIRST-LAST")
    if first.version != version:
        raise Invalid(key, f"{text!r} is IPv{first.version}, the frames are IPv{version} (ip_version)")
    size = int(last) - int(first) + 1
    if size > MAX_FLOWS:
        raise Invalid(key, f"{text!r} holds {size} addresses; a field takes at most {MAX_FLOWS} "
                           f"(an IPv4 /8, an IPv6 /104)")
    if version == 6 and int(first) >> 32 != int(last) >> 32:
        raise Invalid(key, f"{text!r} does not fit its prefix: the generator steps an IPv6 address's "
                           f"last 32 bits, so a range stays within one /96 ({first} is in "
                           f"{ipaddress.ip_network((int(first) >> 32 << 32, 96))})")
    return str(first), size


def _number_range(key: str, field: str, value) -> tuple[int, int]:
    lo_ok, hi_ok, what = NUMBER_FIELDS[field]
    if isinstance(value, str) and "-" in value:
        lo, _, hi = value.partition("-")
        try:
            first, last = int(lo), int(hi)
        except ValueError:
            raise Invalid(key, f"{value!r} is not a range FIRST-LAST of numbers") from None
    else:
        raise Invalid(key, f"{value!r}: give a range \"FIRST-LAST\" (\"1024-65535\")")
    if not (lo_ok <= first <= hi_ok and lo_ok <= last <= hi_ok):
        raise Invalid(key, f"{value!r} is out of range: {what}")
    if last < first:
        raise Invalid(key, f"{value!r}: the last value is below the first")
    return first, last - first + 1


def parse_fields(table: dict, ip_version: int, has: dict[str, str | None],
                 prefix: str = "flow_fields") -> tuple[FieldRange, ...]:
    """Check `flow_fields` and return its ranges, in the table's order. has maps
    a field the frames may lack (vlan, outer_vlan, vni) to None when they have
    it, else to why not; Invalid names the key."""
    out = []
    for name, value in table.items():
        key = f"{prefix}.{name}"
        if name not in FIELDS:
            raise Invalid(key, f"unknown field (known: {', '.join(FIELDS)})")
        if has.get(name):
            raise Invalid(key, f"varied, but {has[name]}")
        if name in ADDRESS_FIELDS:
            if not isinstance(value, str):
                raise Invalid(key, f"must be a string (a prefix or FIRST-LAST), not {value!r}")
            first, size = _address_range(key, value, ip_version)
        else:
            first, size = _number_range(key, name, value)
        out.append(FieldRange(name, first, size))
    return tuple(out)


def check_flows(flows: int, ranges: tuple[FieldRange, ...], key: str = "flows"):
    """Distinct flows need the fields' combined period (lcm of the sizes used) >= flows."""
    if not ranges:
        return
    period = math.lcm(*(r.used(flows) for r in ranges))
    if period < flows:
        sizes = ", ".join(f"{r.field} {r.used(flows)}" for r in ranges)
        raise Invalid(key, f"{flows} flows, but the fields ({sizes}) repeat after {period} "
                           f"(the lcm of their sizes): flows would be sent twice; use sizes whose "
                           f"lcm is >= flows (coprime sizes multiply)")
