/*
 * pg_parse.h - where the headers are: of a template once at set-up (every
 * offset the transmit side patches), of every received frame (where its
 * stamp is).
 *
 * Frames the generator knows: Ethernet, VLAN tags (802.1Q 0x8100, 802.1ad
 * 0x88a8, the pre-standard 0x9100; up to 2 sent, 4 received), IPv4 or IPv6,
 * UDP; a UDP frame to port 4789 with VXLAN's I flag may carry the stamp one
 * Ethernet frame further in (up to PG_RX_MAX_VXLAN times: a VTEP may wrap
 * what was sent as VXLAN once more). The receive side so finds its stamp whatever the path did: a
 * switch that pushed or stripped a tag, a VTEP that encapsulated or
 * decapsulated. Untagged IPv4 is checked first and costs what it always did.
 */
#ifndef PG_PARSE_H
#define PG_PARSE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "pktgen.h"

#define PG_LIKELY(x) __builtin_expect(!!(x), 1)
#define PG_UNLIKELY(x) __builtin_expect(!!(x), 0)

#define PG_ETH_HLEN 14
#define PG_VLAN_HLEN 4
#define PG_IP_HLEN 20
#define PG_IP6_HLEN 40
#define PG_UDP_HLEN 8
#define PG_VXLAN_HLEN 8
#define PG_VXLAN_PORT 4789
#define PG_MAX_TAGS 2	/* in a template */
#define PG_RX_MAX_TAGS 4	/* in a received frame: a switch may push one onto QinQ */
#define PG_RX_MAX_VXLAN 2
/* untagged Ethernet/IPv4/UDP: where the stamp is in the common case */
#define PG_STAMP_OFF_PLAIN (PG_ETH_HLEN + PG_IP_HLEN + PG_UDP_HLEN)

/* Unaligned stores/loads; memcpy compiles to one mov. */
static inline void pg_st16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static inline void pg_st32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static inline void pg_st64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static inline uint16_t pg_ld16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static inline uint32_t pg_ld32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint64_t pg_ld64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
/* network order */
static inline uint16_t pg_be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t pg_be32(const uint8_t *p) { return __builtin_bswap32(pg_ld32(p)); }

static inline int
pg_is_tag(uint16_t ethertype)
{
	return ethertype == 0x8100 || ethertype == 0x88a8 || ethertype == 0x9100;
}

/*
 * One Ethernet frame at off: past its tags to IPv4/IPv6 and UDP. Returns the
 * UDP header's offset, 0 if it is not UDP (or a later fragment, or cut short).
 */
static inline uint32_t
pg_parse_udp(const uint8_t *f, uint32_t len, uint32_t off)
{
	uint32_t l3 = off + 12, t;
	uint16_t et;

	if (len < l3 + 2)
		return 0;
	et = pg_be16(f + l3);
	for (t = 0; t < PG_RX_MAX_TAGS && pg_is_tag(et); t++) {
		l3 += PG_VLAN_HLEN;
		if (len < l3 + 2)
			return 0;
		et = pg_be16(f + l3);
	}
	l3 += 2;
	if (et == 0x0800) {
		if (len < l3 + PG_IP_HLEN || (f[l3] >> 4) != 4 || (f[l3] & 0xf) < 5 ||
		    f[l3 + 9] != 17 || (pg_be16(f + l3 + 6) & 0x1fff) != 0)
			return 0;
		return l3 + (f[l3] & 0xfu) * 4;
	}
	if (et == 0x86dd) {
		if (len < l3 + PG_IP6_HLEN || (f[l3] >> 4) != 6 || f[l3 + 6] != 17)
			return 0;
		return l3 + PG_IP6_HLEN;
	}
	return 0;
}

/* The stamp's offset in a frame whose signature is sig (as stored), 0 if it
 * has none: the general case, out of line so the common one stays small. */
static __attribute__((noinline, cold)) uint32_t
pg_stamp_find(const uint8_t *f, uint32_t len, uint32_t sig)
{
	uint32_t off = 0, depth, udp;

	for (depth = 0; depth <= PG_RX_MAX_VXLAN; depth++) {
		udp = pg_parse_udp(f, len, off);
		if (udp == 0 || len < udp + PG_UDP_HLEN + PG_STAMP_LEN)
			return 0;
		if (pg_ld32(f + udp + PG_UDP_HLEN) == sig)
			return udp + PG_UDP_HLEN;
		/* VXLAN (RFC 7348): I flag set, the inner frame after 8 bytes */
		if (pg_be16(f + udp + 2) != PG_VXLAN_PORT || !(f[udp + PG_UDP_HLEN] & 0x08))
			return 0;
		off = udp + PG_UDP_HLEN + PG_VXLAN_HLEN;
	}
	return 0;
}

/* Where the stamp is, 0 if the frame has none of this trial's. */
static inline uint32_t
pg_stamp_at(const uint8_t *f, uint32_t len, uint32_t sig)
{
	/* untagged IPv4, no options: the signature right where it should be
	 * cannot be anything else's (a VXLAN header there starts 0x08) */
	if (PG_LIKELY(len >= PG_STAMP_OFF_PLAIN + PG_STAMP_LEN &&
		      pg_ld16(f + 12) == __builtin_bswap16(0x0800) &&
		      pg_ld32(f + PG_STAMP_OFF_PLAIN) == sig))
		return PG_STAMP_OFF_PLAIN;
	return pg_stamp_find(f, len, sig);
}

/* A template's layout, what the transmit side patches (offsets from the
 * frame's start; the "inner" frame is the one carrying the stamp). */
struct pg_layout {
	uint16_t tag[PG_MAX_TAGS];	/* TCI of the outer frame's tags, outermost first */
	uint16_t nb_tags;
	uint16_t ip_version;	/* inner: 4 or 6 */
	uint16_t l3;		/* inner IP header */
	uint16_t l4;		/* inner UDP header; the stamp follows it */
	uint16_t vxlan;		/* VXLAN header, 0: none */
};

/* Parse and check a template (pg_parse.c): 0, or -EINVAL with the reason. */
int pg_parse_template(const uint8_t *f, uint32_t len, struct pg_layout *lay, char *err,
		      size_t err_len);

#endif /* PG_PARSE_H */
