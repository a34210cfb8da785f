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
 * A loop normally sends from a table of these frames' words taken once at
 * set-up (pg_flowtab.h); the code here fills it, and sends itself when a
 * table would not fit.
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

/* Adjacent fields written as one word in a burst (pg_flows_burst). */
struct pg_slot {
	uint16_t off;
	uint8_t width;		/* [B]: 2, 4 or 8 */
	uint8_t nb;		/* fields in it */
	uint8_t fld[4];		/* their indexes in pg_flows.f */
	uint8_t pos[4];		/* each one's bit position in the slot's (big-endian) value */
};

/* Slot widths the transmit loop writes itself (pg_txs_stamp), the rest by
 * pg_flows_burst: the 5-tuple shapes, where a frame's cost is decided. */
enum {
	PG_OWN_NONE = 0,
	PG_OWN_8,	/* IPv4 source and destination */
	PG_OWN_4,	/* UDP ports, or one IPv4 / IPv6 address */
	PG_OWN_8_4,	/* IPv4 addresses, then the ports */
};

struct pg_flows {
	uint32_t nb_fields;
	uint32_t nb_slots;
	uint32_t own;		/* PG_OWN_* */
	uint32_t end[PG_NB_GRP];	/* fields[end[g-1]..end[g]) are group g */
	uint32_t random;
	uint32_t nb;		/* flows this loop sends */
	uint32_t part, nb_parts;
	uint32_t j;		/* this loop's flow of the next frame, 0..nb-1 */
	uint32_t run;		/* sequential: frames until the flow is sought again */
	/* random: the bijection of 0..mask */
	uint32_t mask, sh, mul[2], key[2];
	struct pg_fld f[PG_MAX_FIELDS];
	struct pg_slot slot[PG_MAX_FIELDS];
	/* sequential, between seeks: each slot's word and step, and the sums
	 * (x 256, see pg_flows_burst) and their steps, of the next frame */
	uint64_t sv[PG_MAX_FIELDS], sinc[PG_MAX_FIELDS];
	uint64_t sip, sipd, sl4, sl4d;
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
	/* the words pg_flows_burst steps until the next seek */
	for (k = 0; k < fl->nb_slots; k++) {
		const struct pg_slot *sl = &fl->slot[k];
		uint32_t m;

		fl->sv[k] = fl->sinc[k] = 0;
		for (m = 0; m < sl->nb; m++) {
			fl->sv[k] |= (uint64_t)fl->f[sl->fld[m]].val << sl->pos[m];
			fl->sinc[k] += (uint64_t)fl->f[sl->fld[m]].inc << sl->pos[m];
		}
	}
	fl->sip = fl->sipd = 0;
	for (k = 0; k < fl->end[PG_GRP_IP4]; k++) {
		fl->sip += (uint64_t)fl->f[k].val << 8;
		fl->sipd += (uint64_t)fl->f[k].inc << 8;
	}
	fl->sl4 = fl->sip;
	fl->sl4d = fl->sipd;
	for (; k < fl->end[PG_GRP_PORT]; k++) {
		fl->sl4 += (uint64_t)fl->f[k].val << 8;
		fl->sl4d += (uint64_t)fl->f[k].inc << 8;
	}
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

/*
 * Sequential order, a whole burst that no field wraps in: slot by slot (a
 * slot is adjacent fields stored as one word: both IPv4 addresses, both
 * ports), its word in a register, stepped frame by frame; no carry crosses
 * fields, none passes its largest value in a run. Field values (pg_fld.val)
 * are left behind: a seek brings them back (pg_flows_frames). The sums need no per-frame
 * field work: a field's stored words add up (one's complement, memory order)
 * to 256 x its value mod 0xffff (a byte swap is a rotation by 8 bits, so a
 * multiplication by 2^8), so frame i's sums are sum + i x step (*ip, *l4 and
 * their steps). Returns 0 (nothing done) when the burst reaches a wrap or the
 * order is random.
 */
/* A slot the caller writes in its own frame loop (pg_flows_burst's nb_own). */
struct pg_slot_word {
	uint64_t v, inc;
	uint16_t off;
};

static inline uint32_t
pg_flows_burst(struct pg_flows *fl, uint8_t *const *frames, uint32_t n, uint64_t *ip,
	       uint64_t *ip_step, uint64_t *l4, uint64_t *l4_step, struct pg_slot_word *own,
	       const uint32_t nb_own)
{
	uint32_t k, i;

	if (fl->random || fl->run <= n)
		return 0;
	for (k = 0; k < fl->nb_slots; k++) {
		const uint16_t off = fl->slot[k].off;
		const uint64_t inc = fl->sinc[k];
		uint64_t v = fl->sv[k];

		fl->sv[k] = v + n * inc;
		if (k < nb_own) {
			own[k].v = v;
			own[k].inc = inc;
			own[k].off = off;
		} else if (fl->slot[k].width == 8) {
			for (i = 0; i < n; i++, v += inc)
				pg_st64(frames[i] + off, __builtin_bswap64(v));
		} else if (fl->slot[k].width == 4) {
			for (i = 0; i < n; i++, v += inc)
				pg_st32(frames[i] + off, __builtin_bswap32((uint32_t)v));
		} else {
			for (i = 0; i < n; i++, v += inc)
				pg_st16(frames[i] + off, __builtin_bswap16((uint16_t)v));
		}
	}
	*ip = fl->sip;
	*ip_step = fl->sipd;
	*l4 = fl->sl4;
	*l4_step = fl->sl4d;
	fl->sip += n * fl->sipd;
	fl->sl4 += n * fl->sl4d;
	fl->j += n;
	fl->run -= n;	/* > 0: the next frame still needs no seek */
	return n;
}

/* Frame by frame (random order, or a burst reaching a wrap): the words of
 * each frame into frames, its sums into ip[] and l4[]. */
static inline void
pg_flows_frames(struct pg_flows *fl, uint8_t *const *frames, uint32_t n, uint64_t *ip, uint64_t *l4)
{
	uint32_t i;

	if (!fl->random)
		pg_flows_seek_seq(fl);	/* pg_flows_burst stepped slots, not fields */
	for (i = 0; i < n; i++)
		pg_flows_write(fl, frames[i], &ip[i], &l4[i]);
	if (!fl->random)
		pg_flows_seek_seq(fl);	/* and the slots from the fields */
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
