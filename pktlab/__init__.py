"""pktlab: a packet-path performance lab for NFV engineers."""

__version__ = "0.1.0"
