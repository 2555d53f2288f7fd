"""What the AQMs read from and write into an Ethernet frame: the flow it belongs to, its ECN field.

Only untagged Ethernet II frames carrying IPv4 or IPv6 are looked into; anything else (ARP, VLAN
tagged, truncated) is one "other" flow and is never ECN-capable.
"""

from __future__ import annotations

from zlib import crc32

ETH_IPV4 = b"\x08\x00"
ETH_IPV6 = b"\x86\xdd"
_PORTS_PROTOCOLS = (6, 17, 33, 132)   # TCP, UDP, DCCP, SCTP: the first 4 bytes of L4 are the ports

ECN_NOT_ECT, ECN_ECT1, ECN_ECT0, ECN_CE = 0, 1, 2, 3


def flow_hash(frame: bytes, perturbation: int) -> int:
    """A 32-bit hash of the frame's 5-tuple (addresses, protocol, ports), seeded by `perturbation`.

    RFC 8290 §4.1.1 hashes the 5-tuple with a random perturbation; here the perturbation comes from
    the link's seed, so the same seed puts the same flows in the same queues on every run.
    """
    et = frame[12:14]
    if et == ETH_IPV4 and len(frame) >= 34:
        proto = frame[23]
        if proto in _PORTS_PROTOCOLS and not (frame[20] & 0x1F or frame[21]):
            l4 = 14 + (frame[14] & 0x0F) * 4
            return crc32(frame[l4:l4 + 4], crc32(frame[26:34], perturbation ^ proto))
        # No ports (or a fragment after the first): addresses and protocol only.
        return crc32(frame[26:34], perturbation ^ proto)
    if et == ETH_IPV6 and len(frame) >= 54:
        proto = frame[20]
        ports = frame[54:58] if proto in _PORTS_PROTOCOLS else b""
        return crc32(frame[22:54] + ports, perturbation ^ proto)
    return perturbation & 0xFFFFFFFF


def ecn_of(frame: bytes) -> int:
    """The frame's ECN codepoint (0 when it is not IP)."""
    et = frame[12:14]
    if et == ETH_IPV4 and len(frame) >= 34:
        return frame[15] & 3
    if et == ETH_IPV6 and len(frame) >= 54:
        return (frame[15] >> 4) & 3
    return ECN_NOT_ECT


def mark_ce(frame: bytes) -> bytes | None:
    """The frame with ECN set to Congestion Experienced, or None when it is not ECN-capable.

    A frame already CE is returned as is (RFC 3168 §5: it counts as marked). IPv4's header
    checksum is updated incrementally (RFC 1624, eqn. 3), so the receiver's kernel accepts it.
    """
    et = frame[12:14]
    if et == ETH_IPV4 and len(frame) >= 34:
        tos = frame[15]
        ecn = tos & 3
        if ecn == ECN_NOT_ECT:
            return None
        if ecn == ECN_CE:
            return frame
        old_word = (frame[14] << 8) | tos
        new_word = old_word | 3
        csum = (frame[24] << 8) | frame[25]
        # HC' = ~(~HC + ~m + m')
        s = (~csum & 0xFFFF) + (~old_word & 0xFFFF) + new_word
        s = (s & 0xFFFF) + (s >> 16)
        s = (s & 0xFFFF) + (s >> 16)
        csum = ~s & 0xFFFF
        return b"".join((frame[:15], bytes((tos | 3,)), frame[16:24], bytes((csum >> 8, csum & 0xFF)),
                         frame[26:]))
    if et == ETH_IPV6 and len(frame) >= 54:
        b = frame[15]
        ecn = (b >> 4) & 3
        if ecn == ECN_NOT_ECT:
            return None
        if ecn == ECN_CE:
            return frame
        return b"".join((frame[:15], bytes((b | 0x30,)), frame[16:]))
    return None
