/*
 * pg_parse.c - a template checked once, header by header, with the reason
 * when it is not a frame the generator can send: Ethernet, up to two tags,
 * IPv4 (no options) or IPv6 (no extension headers), UDP; optionally VXLAN
 * over IPv4 with the same again inside. pg_parse.h finds stamps on receive.
 */
#include <errno.h>
#include <stdio.h>

#include "pg_parse.h"

#define PG_BAD(...) do { snprintf(err, err_len, __VA_ARGS__); return -EINVAL; } while (0)

/* One IP/UDP layer at l3 (ethertype et): the UDP header's offset in *l4 and
 * what the IP header says its payload ends at in *end. */
static int
pg_parse_ip_udp(const uint8_t *f, uint32_t len, uint16_t et, uint32_t l3, const char *what,
		uint32_t *l4, uint32_t *end, char *err, size_t err_len)
{
	uint32_t ip_len, udp_len;

	if (et == 0x0800) {
		if (len < l3 + PG_IP_HLEN + PG_UDP_HLEN)
			PG_BAD("%s IPv4 header at %u does not fit the %u-byte template", what, l3, len);
		if (f[l3] != 0x45)
			PG_BAD("%s IPv4 version/IHL byte 0x%02x: need 0x45 (IPv4 without options)",
			       what, f[l3]);
		if (f[l3 + 9] != 17)
			PG_BAD("%s IPv4 protocol %u: need UDP (17)", what, f[l3 + 9]);
		if ((f[l3 + 6] & 0x3f) || f[l3 + 7])
			PG_BAD("%s IPv4 is a fragment (MF or offset set)", what);
		ip_len = pg_be16(f + l3 + 2);
		if (ip_len < PG_IP_HLEN + PG_UDP_HLEN || l3 + ip_len > len)
			PG_BAD("%s IPv4 total length %u does not fit a %u-byte frame with L3 at %u",
			       what, ip_len, len, l3);
		*l4 = l3 + PG_IP_HLEN;
		*end = l3 + ip_len;
	} else if (et == 0x86dd) {
		if (len < l3 + PG_IP6_HLEN + PG_UDP_HLEN)
			PG_BAD("%s IPv6 header at %u does not fit the %u-byte template", what, l3, len);
		if ((f[l3] >> 4) != 6)
			PG_BAD("%s IPv6 version %u: need 6", what, f[l3] >> 4);
		if (f[l3 + 6] != 17)
			PG_BAD("%s IPv6 next header %u: need UDP (17), no extension headers", what,
			       f[l3 + 6]);
		ip_len = pg_be16(f + l3 + 4);
		if (ip_len < PG_UDP_HLEN || l3 + PG_IP6_HLEN + ip_len > len)
			PG_BAD("%s IPv6 payload length %u does not fit a %u-byte frame with L3 at %u",
			       what, ip_len, len, l3);
		*l4 = l3 + PG_IP6_HLEN;
		*end = *l4 + ip_len;
	} else {
		PG_BAD("%s ethertype 0x%04x at offset %u: need IPv4 (0x0800) or IPv6 (0x86dd), "
		       "behind at most %u VLAN tags", what, et, l3 - 2, PG_MAX_TAGS);
	}
	udp_len = pg_be16(f + *l4 + 4);
	if (*l4 + udp_len != *end)
		PG_BAD("%s UDP length %u != the IP payload's %u", what, udp_len, *end - *l4);
	return 0;
}

/* Ethernet at off: tags (recorded when lay), then the IP/UDP layer. */
static int
pg_parse_eth(const uint8_t *f, uint32_t len, uint32_t off, const char *what,
	     struct pg_layout *lay, uint32_t *l3p, uint16_t *etp, uint32_t *l4, uint32_t *end,
	     char *err, size_t err_len)
{
	uint32_t l3 = off + 12, t = 0;
	uint16_t et;

	if (len < off + PG_ETH_HLEN)
		PG_BAD("%s Ethernet header at %u does not fit the %u-byte template", what, off, len);
	et = pg_be16(f + l3);
	while (pg_is_tag(et)) {
		if (t == PG_MAX_TAGS)
			PG_BAD("%s frame has more than %u VLAN tags", what, PG_MAX_TAGS);
		if (lay != NULL)
			lay->tag[t] = (uint16_t)(l3 + 2);
		else
			PG_BAD("%s frame is VLAN-tagged: tag the outer frame instead", what);
		t++;
		l3 += PG_VLAN_HLEN;
		if (len < l3 + 2)
			PG_BAD("%s VLAN tag %u does not fit the %u-byte template", what, t, len);
		et = pg_be16(f + l3);
	}
	if (lay != NULL)
		lay->nb_tags = (uint16_t)t;
	l3 += 2;
	*l3p = l3;
	*etp = et;
	return pg_parse_ip_udp(f, len, et, l3, what, l4, end, err, err_len);
}

int
pg_parse_template(const uint8_t *f, uint32_t len, struct pg_layout *lay, char *err,
		  size_t err_len)
{
	uint32_t l3, l4, end, in_l3, in_l4, in_end;
	uint16_t et, in_et;
	int ret;

	memset(lay, 0, sizeof(*lay));
	ret = pg_parse_eth(f, len, 0, "template", lay, &l3, &et, &l4, &end, err, err_len);
	if (ret != 0)
		return ret;
	/* the template's payload is zero: a VXLAN header there is one the
	 * caller built (the I flag), not a stamp */
	if (pg_be16(f + l4 + 2) == PG_VXLAN_PORT && end >= l4 + PG_UDP_HLEN + PG_VXLAN_HLEN &&
	    (f[l4 + PG_UDP_HLEN] & 0x08)) {
		const uint32_t in = l4 + PG_UDP_HLEN + PG_VXLAN_HLEN;

		if (et != 0x0800)
			PG_BAD("template VXLAN over IPv6: not supported (its outer UDP checksum "
			       "would change with every frame); use an IPv4 underlay");
		if (pg_ld16(f + l4 + 6) != 0)
			PG_BAD("template VXLAN outer UDP checksum 0x%04x: need 0 (RFC 7348 allows it "
			       "over IPv4; the inner frame changes with every frame)",
			       pg_be16(f + l4 + 6));
		ret = pg_parse_eth(f, end, in, "inner", NULL, &in_l3, &in_et, &in_l4, &in_end, err,
				   err_len);
		if (ret != 0)
			return ret;
		lay->vxlan = (uint16_t)(l4 + PG_UDP_HLEN);
		l3 = in_l3;
		et = in_et;
		l4 = in_l4;
		end = in_end;
	}
	if (end - l4 - PG_UDP_HLEN < PG_STAMP_LEN)
		PG_BAD("template UDP payload is %u B, the stamp needs %u (each tag takes 4 B: a "
		       "tagged frame needs frame size >= 68, QinQ >= 72)",
		       end - l4 - PG_UDP_HLEN, PG_STAMP_LEN);
	lay->ip_version = et == 0x0800 ? 4 : 6;
	lay->l3 = (uint16_t)l3;
	lay->l4 = (uint16_t)l4;
	return 0;
}
