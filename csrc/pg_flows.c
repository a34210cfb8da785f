/*
 * pg_flows.c - set-up half of pg_flows.h: a stream's varied fields located
 * in its parsed template and checked against what the frame has, one loop's
 * share of the flows, the random order's bijection. Never per packet.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "pg_flows.h"

#define PG_BAD(...) do { snprintf(err, err_len, __VA_ARGS__); return -EINVAL; } while (0)

static const char *const pg_field_names[] = {
	[PG_FIELD_SRC_IP] = "src_ip", [PG_FIELD_DST_IP] = "dst_ip",
	[PG_FIELD_SRC_PORT] = "src_port", [PG_FIELD_DST_PORT] = "dst_port",
	[PG_FIELD_VLAN] = "vlan", [PG_FIELD_OUTER_VLAN] = "outer_vlan", [PG_FIELD_VNI] = "vni",
};

/* Where field lives in this template: offset, group, shift, and the largest
 * value it may reach; -EINVAL when the frame has no such header. */
static int
pg_field_locate(uint32_t field, const struct pg_layout *lay, struct pg_fld *f, uint64_t *max,
		char *err, size_t err_len)
{
	const int v6 = lay->ip_version == 6;

	f->shift = 0;
	*max = UINT32_MAX;
	switch (field) {
	case PG_FIELD_SRC_IP:
	case PG_FIELD_DST_IP:
		/* IPv6: the address's last 32 bits */
		f->off = (uint16_t)(lay->l3 + (v6 ? 8 + 12 : 12) + (field == PG_FIELD_DST_IP ? (v6 ? 16 : 4) : 0));
		f->grp = v6 ? PG_GRP_IP6 : PG_GRP_IP4;
		return 0;
	case PG_FIELD_SRC_PORT:
	case PG_FIELD_DST_PORT:
		f->off = (uint16_t)(lay->l4 + (field == PG_FIELD_DST_PORT ? 2 : 0));
		f->grp = PG_GRP_PORT;
		*max = 0xffff;
		return 0;
	case PG_FIELD_VNI:
		if (!lay->vxlan)
			PG_BAD("field vni varied, but the template has no VXLAN header");
		f->off = (uint16_t)(lay->vxlan + 4);	/* VNI (24 bits) | reserved (8) */
		f->shift = 8;
		f->grp = PG_GRP_VNI;
		*max = 0xffffff00u;
		return 0;
	case PG_FIELD_VLAN:
		if (lay->nb_tags == 0)
			PG_BAD("field vlan varied, but the template has no VLAN tag");
		f->off = lay->tag[lay->nb_tags - 1];	/* the C-tag of QinQ */
		f->grp = PG_GRP_TAG;
		*max = 0;	/* set from the tag's PCP/DEI by the caller */
		return 0;
	case PG_FIELD_OUTER_VLAN:
		if (lay->nb_tags < 2)
			PG_BAD("field outer_vlan varied, but the template has %u VLAN tag%s (QinQ has 2)",
			       lay->nb_tags, lay->nb_tags == 1 ? "" : "s");
		f->off = lay->tag[0];
		f->grp = PG_GRP_TAG;
		*max = 0;
		return 0;
	}
	PG_BAD("field %u: not a PG_FIELD_* (%u..%u)", field, PG_FIELD_SRC_IP, PG_FIELD_VNI);
}

int
pg_flows_prepare(struct pg_flows *fl, const struct pg_stream_config *sc,
		 const struct pg_layout *lay, const uint8_t *frame, char *err, size_t err_len)
{
	struct pg_fld byg[PG_NB_GRP][PG_MAX_FIELDS];
	uint32_t nb[PG_NB_GRP] = { 0 }, seen = 0, i, g;

	memset(fl, 0, sizeof(*fl));
	if (sc->nb_flows < 1 || sc->nb_flows > PG_MAX_FLOWS)
		PG_BAD("nb_flows %u out of 1..%u", sc->nb_flows, PG_MAX_FLOWS);
	if (sc->nb_fields > PG_MAX_FIELDS)
		PG_BAD("nb_fields %u out of 0..%u", sc->nb_fields, PG_MAX_FIELDS);
	if (sc->nb_flows > 1 && sc->nb_fields == 0)
		PG_BAD("%u flows, but no field varies (nb_fields 0)", sc->nb_flows);
	if (sc->order != PG_ORDER_SEQUENTIAL && sc->order != PG_ORDER_RANDOM)
		PG_BAD("order %u: need PG_ORDER_SEQUENTIAL (%u) or PG_ORDER_RANDOM (%u)", sc->order,
		       PG_ORDER_SEQUENTIAL, PG_ORDER_RANDOM);
	for (i = 0; i < sc->nb_fields; i++) {
		const uint32_t field = sc->fields[i].field, count = sc->fields[i].count;
		struct pg_fld f;
		uint64_t max;
		int ret;

		memset(&f, 0, sizeof(f));
		ret = pg_field_locate(field, lay, &f, &max, err, err_len);
		if (ret != 0)
			return ret;
		if (seen & (1u << field))
			PG_BAD("field %s varied twice", pg_field_names[field]);
		seen |= 1u << field;
		if (count < 1 || count > PG_MAX_FLOWS)
			PG_BAD("field %s: count %u out of 1..%u", pg_field_names[field], count,
			       PG_MAX_FLOWS);
		f.field = field;
		f.count = count;
		f.fm = UINT64_MAX / count + 1;
		if (f.grp == PG_GRP_PORT || f.grp == PG_GRP_TAG)
			f.base = pg_be16(frame + f.off);
		else
			f.base = pg_be32(frame + f.off);
		if (f.grp == PG_GRP_TAG)
			max = (f.base & 0xf000u) | 0xfffu;	/* the VLAN ID's 12 bits, PCP/DEI kept */
		if (f.base + ((uint64_t)(count - 1) << f.shift) > max)
			PG_BAD("field %s: %u values from the template's %u run past its largest, %llu",
			       pg_field_names[field], count,
			       f.grp == PG_GRP_TAG ? f.base & 0xfffu : f.base >> f.shift,
			       (unsigned long long)(f.grp == PG_GRP_TAG ? 0xfffu : max >> f.shift));
		byg[f.grp][nb[f.grp]++] = f;
	}
	/* sorted by group: pg_flows_write runs one small loop per group */
	for (g = 0; g < PG_NB_GRP; g++) {
		for (i = 0; i < nb[g]; i++)
			fl->f[fl->nb_fields++] = byg[g][i];
		fl->end[g] = fl->nb_fields;
	}
	fl->random = sc->order == PG_ORDER_RANDOM;
	pg_flows_partition(fl, sc->nb_flows, 0, 1, 0);
	return 0;
}

/* splitmix64: keys for the random order from a seed */
static uint64_t
pg_mix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void
pg_flows_partition(struct pg_flows *fl, uint32_t nb_flows, uint32_t part, uint32_t nb_parts,
		   uint32_t seed)
{
	uint64_t x = seed;
	uint32_t bits = 1;

	fl->part = part;
	fl->nb_parts = nb_parts;
	fl->nb = (nb_flows - part + nb_parts - 1) / nb_parts;
	while ((1ull << bits) < fl->nb)
		bits++;
	fl->mask = (uint32_t)((1ull << bits) - 1);
	fl->sh = (bits + 1) / 2;
	fl->mul[0] = (uint32_t)pg_mix(&x) | 1;	/* odd: a bijection mod 2^bits */
	fl->mul[1] = (uint32_t)pg_mix(&x) | 1;
	fl->key[0] = (uint32_t)pg_mix(&x);
	fl->key[1] = (uint32_t)pg_mix(&x);
	pg_flows_begin(fl);
}

void
pg_flows_begin(struct pg_flows *fl)
{
	fl->j = 0;
	pg_flows_seek(fl);
}

void
pg_flows_rewind(struct pg_flows *fl, uint32_t n)
{
	fl->j = (uint32_t)(((uint64_t)fl->j + fl->nb - n % fl->nb) % fl->nb);
	pg_flows_seek(fl);
}
