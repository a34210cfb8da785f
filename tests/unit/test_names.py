"""Interface and namespace names: the kernel's rules, and names derived from a run tag."""
from __future__ import annotations

import pytest

from pktlab.host import names
from pktlab.host.names import check_ifname, check_netns_name


@pytest.mark.parametrize("name", ["eth0", "a", "veth-a.100", "x" * 15, "plk3x9qaa0", "br_0", "é" * 7])
def test_valid_interface_names(name):
    assert check_ifname(name) is None


@pytest.mark.parametrize("name, reason", [
    ("", "cannot be empty"),
    ("x" * 16, "16 bytes long; interface names are at most 15 (IFNAMSIZ-1)"),
    ("é" * 8, "16 bytes long"),  # the limit is in bytes, not characters
    ("a/b", "contains '/'"),
    ("a b", "contains whitespace"),
    ("a\tb", "contains whitespace"),
    ("a\u00e0", "contains whitespace"),  # UTF-8 c3 a0: the kernel's isspace() counts 0xa0
    ("eth0:1", "contains ':'"),
    (".", "not allowed"),
    ("..", "not allowed"),
    (None, "must be a string"),
])
def test_invalid_interface_names_say_why(name, reason):
    got = check_ifname(name)
    assert got is not None and reason in got


@pytest.mark.parametrize("name", ["pktlab-k3x9qa-gen", "ns1", "a" * 255, "with.dot"])
def test_valid_netns_names(name):
    assert check_netns_name(name) is None


@pytest.mark.parametrize("name, reason", [
    ("", "cannot be empty"),
    ("a/b", "contains '/'"),
    ("a b", "whitespace"),
    ("a\nb", "whitespace"),
    (".", "not allowed"),
    ("..", "not allowed"),
    ("a" * 256, "at most 255 bytes"),
])
def test_invalid_netns_names_say_why(name, reason):
    got = check_netns_name(name)
    assert got is not None and reason in got


def test_derived_names_fit_and_start_with_the_prefix():
    tag = names.new_tag()
    for suffix in ("a", "a0", "br", "gen-rx", "x" * names.SUFFIX_MAX):
        n = names.link_name(tag, suffix)
        assert len(n.encode()) <= 15 and check_ifname(n) is None
        assert n.startswith(names.link_prefix(tag))
    ns = names.netns_name(tag, "br")
    assert check_netns_name(ns) is None and ns.startswith(names.netns_prefix(tag))


def test_derived_names_are_unique_per_tag_and_suffix():
    tags = {names.new_tag() for _ in range(200)} | {names.tag_for(f"run-{i}") for i in range(200)}
    suffixes = ["a", "a0", "a00", "0", "00", "b1", "br", "br0"]
    links = [names.link_name(t, s) for t in tags for s in suffixes]
    assert len(set(links)) == len(links)
    nss = [names.netns_name(t, s) for t in tags for s in suffixes]
    assert len(set(nss)) == len(nss)


def test_tag_for_a_run_is_stable_and_short():
    assert names.tag_for("2024-05-01T10-00-00-abc") == names.tag_for("2024-05-01T10-00-00-abc")
    assert names.tag_for("r1") != names.tag_for("r2")
    assert len(names.tag_for("x" * 500)) == names.TAG_LEN


@pytest.mark.parametrize("tag, suffix", [("short", "a0"), ("ABCDEF", "a0"), ("abcdef", ""), ("abcdef", "x" * 8),
                                         ("abcdef", "a/b"), ("abcdef", "-a")])
def test_bad_tag_or_suffix_is_refused(tag, suffix):
    with pytest.raises(ValueError):
        names.link_name(tag, suffix)
