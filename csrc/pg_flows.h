/*
 * pg_flows.h - which flow the next frame belongs to, and its header words.
 *
 * A stream has nb_flows flows and up to PG_MAX_FIELDS varied fields; flow g
 * has value template + g % count in each field (fields step together and
 * wrap at their own count; coprime counts so cover every combination). One
 * of N loops sends the flows g % N == part, as j = 0, 1, ... of its own:
 *
 *   sequential  g = j * N + part: every field advances by a constant per
 *               frame; only when one wraps (or j does) is the flow sought
 *               again with divisions, so a frame costs a store and an add
 *               per field.
 *   random      g = perm(j) * N + part, perm a bijection of 0..nb-1: a few
 *               multiply/xor-shift rounds over the next power of two, walked
 *               until it lands below nb (cycle walking); every flow is sent
 *               once per nb frames. Fields by Lemire's fastmod, no division.
 *
 * Checksums: a frame's varied words are summed as stored (memory order,
 * RFC 1071) into what the IPv4 header and the UDP checksum add to their
 * base (RFC 1624); fields are kept sorted by the sums they enter.
 */
#ifndef PG_FLOWS_H
#define PG_FLOWS_H

#include <stdint.h>

#include "pg_parse.h"

/* Field groups, in the order fields are kept: the sums a word enters. */
enum {
	PG_GRP_IP4 = 0,	/* IPv4 address, 32 bit: IPv4 header + UDP pseudo header */
	PG_GRP_IP6,	/* IPv6 address's low 32 bits: UDP pseudo header */
	PG_GRP_PORT,	/* UDP port, 16 bit: UDP checksum */
	PG_GRP_VNI,	/* VXLAN VNI word, 32 bit: no checksum (outer UDP checksum 0) */
	PG_GRP_TAG,	/* VLAN TCI, 16 bit: no checksum */
	PG_NB_GRP
};

struct pg_fld {
	uint32_t val;	/* next frame's value, host order */
	uint32_t inc;	/* sequential: added per frame, (N % count) << shift */
	uint32_t base;	/* flow 0's (the template's) */
	uint32_t count;	/* values before it wraps */
	uint64_t fm;	/* fastmod reciprocal of count */
	uint16_t off;	/* the word's offset in the frame */
	uint8_t shift;	/* value = base + (index << shift): 8 for the VNI word */
	uint8_t grp;	/* PG_GRP_* */
	uint32_t field;	/* PG_FIELD_*, for messages */
};

struct pg_flows {
	uint32_t nb_fields;
	uint32_t end[PG_NB_GRP];	/* fields[end[g-1]..end[g]) are group g */
	uint32_t random;
	uint32_t nb;		/* flows this loop sends */
	uint32_t part, nb_parts;
	uint32_t j;		/* this loop's flow of the next frame, 0..nb-1 */
	uint32_t run;		/* sequential: frames until the flow is sought again */
	/* random: the bijection of 0..mask */
	uint32_t mask, sh, mul[2], key[2];
	struct pg_fld f[PG_MAX_FIELDS];
};

/* a % d for 32-bit a and d >= 1, fm = UINT64_MAX / d + 1 (Lemire 2019) */
static inline uint32_t
pg_fastmod(uint32_t a, uint64_t fm, uint32_t d)
{
	return (uint32_t)(((unsigned __int128)(fm * a) * d) >> 64);
}

static inline uint32_t
pg_perm(const struct pg_flows *fl, uint32_t x)
{
	const uint32_t mask = fl->mask, sh = fl->sh;

	do {	/* each step a bijection of 0..mask, so the walk comes back below nb */
		x = (x * fl->mul[0] + fl->key[0]) & mask;
		x ^= x >> sh;
		x = (x * fl->mul[1] + fl->key[1]) & mask;
		x ^= x >> sh;
	} while (x >= fl->nb);
	return x;
}

/* Random order: the values of the cursor's flow. */
static inline void
pg_flows_seek_random(struct pg_flows *fl)
{
	const uint32_t g = pg_perm(fl, fl->j) * fl->nb_parts + fl->part;
	uint32_t k;

	for (k = 0; k < fl->nb_fields; k++) {
		struct pg_fld *f = &fl->f[k];

		f->val = f->base + (pg_fastmod(g, f->fm, f->count) << f->shift);
	}
}

/* Sequential order: the cursor's flow, and how long the values may just be
 * stepped (until a field wraps or the loop's flows do). Rare. */
static __attribute__((noinline)) void
pg_flows_seek_seq(struct pg_flows *fl)
{
	uint64_t g;
	uint32_t k, run;

	if (fl->j >= fl->nb)
		fl->j = 0;
	g = (uint64_t)fl->j * fl->nb_parts + fl->part;
	run = fl->nb - fl->j;
	for (k = 0; k < fl->nb_fields; k++) {
		struct pg_fld *f = &fl->f[k];
		const uint32_t idx = (uint32_t)(g % f->count), step = fl->nb_parts % f->count;

		f->val = f->base + (idx << f->shift);
		f->inc = step << f->shift;
		if (step != 0 && (f->count - idx + step - 1) / step < run)
			run = (f->count - idx + step - 1) / step;
	}
	fl->run = run;
}

static inline void
pg_flows_seek(struct pg_flows *fl)
{
	if (fl->random)
		pg_flows_seek_random(fl);
	else
		pg_flows_seek_seq(fl);
}

/* Write the next frame's varied words into frame; *ip and *l4 get their sums
 * (memory order) for the IPv4 header and the UDP checksum. Then step. */
static inline void
pg_flows_write(struct pg_flows *fl, uint8_t *frame, uint64_t *ip, uint64_t *l4)
{
	const struct pg_fld *f = fl->f;
	uint64_t si = 0, sl = 0;
	uint32_t k = 0;

	for (; k < fl->end[PG_GRP_IP4]; k++) {
		const uint32_t w = __builtin_bswap32(f[k].val);

		pg_st32(frame + f[k].off, w);
		si += w;
	}
	sl = si;
	for (; k < fl->end[PG_GRP_IP6]; k++) {
		const uint32_t w = __builtin_bswap32(f[k].val);

		pg_st32(frame + f[k].off, w);
		sl += w;
	}
	for (; k < fl->end[PG_GRP_PORT]; k++) {
		const uint16_t w = __builtin_bswap16((uint16_t)f[k].val);

		pg_st16(frame + f[k].off, w);
		sl += w;
	}
	for (; k < fl->end[PG_GRP_VNI]; k++)
		pg_st32(frame + f[k].off, __builtin_bswap32(f[k].val));
	for (; k < fl->nb_fields; k++)
		pg_st16(frame + f[k].off, __builtin_bswap16((uint16_t)f[k].val));
	*ip = si;
	*l4 = sl;

	fl->j++;
	if (fl->random) {
		if (fl->j == fl->nb)
			fl->j = 0;
		pg_flows_seek_random(fl);
		return;
	}
	for (k = 0; k < fl->nb_fields; k++)
		fl->f[k].val += fl->f[k].inc;
	if (PG_UNLIKELY(--fl->run == 0))
		pg_flows_seek_seq(fl);
}

/* Set-up (pg_flows.c): the fields of a stream's config on a parsed template,
 * 0 or -EINVAL with the reason; one loop's share; a trial's start; n frames
 * taken back. */
struct pg_stream_config;
int pg_flows_prepare(struct pg_flows *fl, const struct pg_stream_config *sc,
		     const struct pg_layout *lay, const uint8_t *frame, char *err, size_t err_len);
void pg_flows_partition(struct pg_flows *fl, uint32_t nb_flows, uint32_t part, uint32_t nb_parts,
			uint32_t seed);
void pg_flows_begin(struct pg_flows *fl);
void pg_flows_rewind(struct pg_flows *fl, uint32_t n);

#endif /* PG_FLOWS_H */
