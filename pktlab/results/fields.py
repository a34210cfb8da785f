"""Reading result JSON key by key: each value checked against its type, and every
error a ResultError naming the file, the dotted key and the reason."""
from __future__ import annotations

from pktlab.errors import PktlabError


class ResultError(PktlabError):
    """A result file (or dict) that cannot be read: names the file, the key and the reason."""

    def __init__(self, file, key, reason):
        self.file, self.key, self.reason = (None if file is None else str(file)), key, reason
        super().__init__(": ".join(str(p) for p in (self.file, key, reason) if p))


_TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false",
               dict: "an object", list: "a list"}


def get(d, key, kind, where: str, nullable: bool = False, required: bool = True):
    """d[key] checked against kind; ResultError naming <where>.<key> otherwise."""
    name = f"{where}[{key}]" if isinstance(key, int) else f"{where}.{key}" if where else key
    if isinstance(d, dict) and key not in d:
        if required:
            raise ResultError(None, name, "missing")
        return None
    v = d[key]
    if v is None and nullable:
        return None
    ok = (isinstance(v, (int, float)) if kind is float else isinstance(v, kind))
    if ok and kind is not bool and isinstance(v, bool):  # JSON true is not 1 here
        ok = False
    if not ok:
        got = "null" if v is None else type(v).__name__
        raise ResultError(None, name, f"expected {_TYPE_NAMES[kind]}"
                          f"{' or null' if nullable else ''}, got {got}")
    return v


def check_trial_stats(d: dict, where: str) -> None:
    """Type-check what TrialStats.from_dict reads, so errors name the key."""
    get(d, "offered_pps", float, where, nullable=True)
    for k in ("duration_s", "elapsed_s"):
        get(d, k, float, where)
    for k in ("tx_packets", "rx_packets", "lost", "duplicates", "reordered"):
        get(d, k, int, where)
    get(d, "tx_dropped", int, where, required=False)
    get(d, "interrupted", bool, where, required=False)
    for key in ("latency", "load_latency"):
        lat = get(d, key, dict, where, nullable=True, required=key == "latency")
        if lat is not None:
            for k in ("min_ns", "avg_ns", "p50_ns", "p99_ns", "max_ns"):
                get(lat, k, float, f"{where}.{key}")
            get(lat, "ipdv_pairs", int, f"{where}.{key}", required=False)
            for k in ("ipdv_mean_ns", "ipdv_p50_ns", "ipdv_p99_ns", "ipdv_max_ns"):
                get(lat, k, float, f"{where}.{key}", nullable=True, required=False)
    for key in ("latency_histogram", "ipdv_histogram"):
        hist = get(d, key, list, where, required=False) or []
        for i, b in enumerate(hist):
            if not (isinstance(b, list) and len(b) == 2):
                raise ResultError(None, f"{where}.{key}[{i}]", "expected [upper_ns, count]")
            get(b, 0, float, f"{where}.{key}[{i}]")
            get(b, 1, int, f"{where}.{key}[{i}]")
    source = get(d, "latency_source", str, where, required=False)
    if source not in (None, "load", "latency-stream"):
        raise ResultError(None, f"{where}.latency_source", f"{source!r}: expected load or latency-stream")
    ls = get(d, "latency_stream", dict, where, nullable=True, required=False)
    if ls is not None:
        for k in ("tx_packets", "rx_packets", "lost"):
            get(ls, k, int, f"{where}.latency_stream")
        get(ls, "elapsed_s", float, f"{where}.latency_stream")
    ports = get(d, "ports", list, where, required=False) or []
    for i in range(len(ports)):
        p = get(ports, i, dict, f"{where}.ports")
        get(p, "name", str, f"{where}.ports[{i}]")
        for k in ("tx_packets", "rx_packets"):
            get(p, k, int, f"{where}.ports[{i}]")
        get(p, "rx_foreign", int, f"{where}.ports[{i}]", required=False)
        get(p, "rx_missed", int, f"{where}.ports[{i}]", required=False)


def build(cls, where: str, **kw):
    """cls(**kw), turning a validation ValueError into a ResultError naming the object."""
    try:
        return cls(**kw)
    except ValueError as e:
        raise ResultError(None, where or None, str(e)) from None


