"""Address arithmetic shared by the models, allocation and search.

Addresses are also stored as ``*_key``: the integer value as 32 zero-padded hex digits,
so ordering and range tests work in SQL on every database (IPv6 does not fit a bigint).
"""

from __future__ import annotations

import ipaddress

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddr = ipaddress.IPv4Address | ipaddress.IPv6Address


def key(value: int | str | IPAddr) -> str:
    if not isinstance(value, int):
        value = int(ipaddress.ip_address(value))
    return f"{value:032x}"


def parse_network(text: str) -> IPNetwork:
    """Parse a CIDR strictly: host bits set is an error, with a helpful message."""
    text = (text or "").strip()
    if not text:
        raise ValueError("Enter a subnet in CIDR notation, e.g. 10.0.0.0/24.")
    if "/" not in text:
        raise ValueError(f"'{text}' has no prefix length; write it in CIDR notation, e.g. {text}/24.")
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        try:
            loose = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise ValueError(f"'{text}' is not a valid IPv4 or IPv6 CIDR ({exc}).") from None
        raise ValueError(
            f"'{text}' has host bits set; the network address is {loose}."
        ) from None


def parse_address(text: str) -> IPAddr:
    try:
        return ipaddress.ip_address((text or "").strip())
    except ValueError:
        raise ValueError(f"'{text}' is not a valid IPv4 or IPv6 address.") from None


def usable_bounds(net: IPNetwork) -> tuple[int, int]:
    """First and last assignable address of a network, as integers.

    IPv4 skips the network and broadcast addresses except in /31 and /32 (RFC 3021).
    IPv6 skips the subnet-router anycast address (all zero host bits) except in /127 and /128.
    """
    first, last = int(net.network_address), int(net.broadcast_address)
    if net.version == 4 and net.prefixlen < 31:
        return first + 1, last - 1
    if net.version == 6 and net.prefixlen < 127:
        return first + 1, last
    return first, last


def to_address(value: int, version: int) -> IPAddr:
    return ipaddress.IPv4Address(value) if version == 4 else ipaddress.IPv6Address(value)
