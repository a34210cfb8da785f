/*
 * pg_stream.h - per-packet work shared by every generator backend.
 *
 * Plain C, no DPDK: a backend (DPDK, AF_PACKET, AF_XDP) hands
 * frame pointers to pg_txs_stamp() on transmit and to pg_rx_account() on
 * receive; the counters land in a struct pg_stats.
 *
 * Checksums are one's-complement sums of 16-bit words taken in memory order
 * (RFC 1071: the sum is byte-order independent), so values are added as
 * they are stored and never swapped back. Per packet only the varying words
 * are added to a base sum precomputed with them zeroed (RFC 1624, eqn. 3).
 */
#ifndef PG_STREAM_H
#define PG_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "pktgen.h"
#include "pg_flows.h"
#include "pg_flowtab.h"
#include "pg_parse.h"

#include "pg_latency.h"

/* Receive window per stream: a frame more than this many sequence numbers
 * behind the highest seen is counted reordered without a duplicate check. */
#define PG_SEEN_BITS (1u << 20)

/* Transmit side of one stream. The first block is fixed for a trial; the
 * cursors (seq, the flows') advance with every frame built. */
struct pg_txs {
	uint64_t ip_base;	/* inner IPv4 header sum, checksum and varied words zeroed */
	uint64_t udp_base;	/* pseudo header + UDP + payload, varying words zeroed */
	uint32_t sig;		/* PG_MAGIC | trial id << 16, as stored */
	uint16_t stream_id;
	uint16_t l3_off;	/* the inner IP header (behind tags, inside VXLAN) */
	uint16_t l4_off;	/* its UDP header; the stamp follows */
	uint16_t ip4_ck;	/* the IPv4 header checksum changes with the flow */
	uint32_t frame_len;	/* [B] without FCS */
	uint32_t nb_flows;	/* of the stream, all loops */
	uint32_t seed;		/* of the random order */
	uint32_t seq;
	struct pg_flows fl;
	struct pg_ftab tab;	/* the flows precomputed (nb_blk 0: computed per frame) */
};

/* Receive state of one stream. */
struct pg_rxs {
	uint64_t *seen;		/* PG_SEEN_BITS bits: seq s is bit s % PG_SEEN_BITS */
	uint64_t max_seq;	/* highest sequence number seen, extended to 64 bits */
	int32_t rx_port;	/* port index the stream is expected on, -1: none */
	uint32_t started;	/* max_seq is valid */
	uint32_t lat_class;	/* PG_LAT_LOAD, or PG_LAT_PROBE for a latency stream */
	struct pg_ipdv ipdv;	/* the last frame received, for IPDV */
};

/* Everything pg_rx_account() needs. Streams here are the stamp's stream ids:
 * the configured streams, or their sub-streams when several loops send. */
struct pg_rx {
	uint32_t sig;		/* this trial's signature */
	uint32_t nb_streams;
	struct pg_rxs *rxs;	/* [nb_streams] */
	struct pg_stream_stats *sst;	/* [nb_streams] */
	struct pg_stats *stats;	/* ports and latency */
};

/* Fold a partial sum (any number of 32-bit addends) to 16 bits. */
static inline uint16_t
pg_fold(uint64_t sum)
{
	sum = (sum & 0xffffffff) + (sum >> 32);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* Stamp and checksums of n frames whose varied words are written: frame i's
 * words add ip + i x ip_step (+ ipa[i] when given) to the IPv4 header's sum,
 * l4 + i x l4_step (+ l4a[i]) to the UDP checksum. Or, from a flow table
 * (nb_blk > 0), frame i gets record i's blocks at boff[] and adds l4d[i].
 * Instantiated per case (constant arguments), so the fixed template pays for
 * nothing it lacks. */
static inline __attribute__((always_inline)) void
pg_txs_fill(struct pg_txs *s, uint8_t *const *frames, uint32_t n, uint64_t tsc, uint64_t ip,
	    uint64_t ip_step, uint64_t l4, uint64_t l4_step, const uint64_t *ipa, const uint64_t *l4a,
	    const int ip4_ck, const struct pg_slot_word *own, const uint32_t w0, const uint32_t w1,
	    const uint8_t *rec, const uint16_t *l4d, const uint16_t *boff, const uint32_t nb_blk)
{
	/* one TSC for the burst: add its words to the base once */
	const uint64_t udp_base = s->udp_base + (uint32_t)tsc + (tsc >> 32) + l4;
	const uint32_t sig = s->sig;
	const uint16_t stream_id = s->stream_id, l3 = s->l3_off, l4_off = s->l4_off;
	/* the IPv4 header's sum, folded, stepped with an end-around carry */
	const uint32_t ip_d = pg_fold(ip_step);
	uint32_t ip_h = pg_fold(s->ip_base + ip);
	uint64_t l4_sum = 0;
	uint32_t seq = s->seq;
	uint32_t i;
	/* up to two slots of constant width w0, w1 [B] (0: none) written here, in
	 * registers (stores through uint8_t * may alias own[]) */
	uint64_t v0 = w0 ? own[0].v : 0, inc0 = w0 ? own[0].inc : 0;
	uint64_t v1 = w1 ? own[1].v : 0, inc1 = w1 ? own[1].inc : 0;
	const uint16_t off0 = w0 ? own[0].off : 0, off1 = w1 ? own[1].off : 0;
	uint16_t bo[PG_FTAB_BLKS] = { 0 };

	for (i = 0; i < nb_blk; i++)
		bo[i] = boff[i];
	for (i = 0; i < n; i++) {
		uint8_t *fr = frames[i];
		uint8_t *udp = fr + l4_off;
		uint8_t *st = udp + PG_UDP_HLEN;
		uint32_t b;
		uint16_t ck;

		if (nb_blk)	/* the table streams from memory: ask ahead */
			__builtin_prefetch(rec + (i + PG_FTAB_AHEAD) * nb_blk * PG_FTAB_BLK);
		for (b = 0; b < nb_blk; b++)	/* unrolled: nb_blk is a constant */
			memcpy(fr + bo[b], rec + (i * nb_blk + b) * PG_FTAB_BLK, PG_FTAB_BLK);

		if (w0 == 8)
			pg_st64(fr + off0, __builtin_bswap64(v0));
		else if (w0 == 4)
			pg_st32(fr + off0, __builtin_bswap32((uint32_t)v0));
		if (w1 == 4)
			pg_st32(fr + off1, __builtin_bswap32((uint32_t)v1));
		v0 += inc0;
		v1 += inc1;

		if (ip4_ck) {
			const uint32_t h = ipa ? pg_fold((uint64_t)ip_h + ipa[i]) : ip_h;

			pg_st16(fr + l3 + 10, (uint16_t)~h);
			ip_h += ip_d;
			ip_h = (ip_h & 0xffff) + (ip_h >> 16);
		}
		pg_st32(st, sig);
		pg_st16(st + 4, stream_id);
		pg_st32(st + 6, seq);
		pg_st64(st + 10, tsc);
		ck = (uint16_t)~pg_fold(udp_base + (l4a ? l4a[i] : 0) + (nb_blk ? l4d[i] : 0) + l4_sum +
					seq);
		l4_sum += l4_step;
		pg_st16(udp + 6, ck == 0 ? 0xffff : ck);	/* 0 means "no checksum" */
		seq++;
	}
	s->seq = seq;
}

/*
 * Patch n frames of one stream: the flow's varied words, the stamp, the
 * checksums that cover them. Everything else was written once from the
 * template.
 */
static inline void
pg_txs_stamp(struct pg_txs *s, uint8_t *const *frames, uint32_t n, uint64_t tsc)
{
	uint64_t ipa[PG_BURST_MAX], l4a[PG_BURST_MAX];
	uint64_t ip, ip_step, l4, l4_step;
	struct pg_slot_word own[2] = { { 0, 0, 0 }, { 0, 0, 0 } };
	const uint32_t ip4 = s->ip4_ck;

	/* from the flow table: up to the end of the loop's cycle, then from its start */
#define PG_FILL_TAB(B) do {																\
	uint32_t j = s->fl.j, k;								\
												\
	for (; n != 0; n -= k, frames += k) {							\
		k = s->tab.nb - j < n ? s->tab.nb - j : n;					\
		pg_txs_fill(s, frames, k, tsc, 0, 0, 0, 0, NULL, NULL, 0, NULL, 0, 0,		\
			    s->tab.rec + (size_t)j * (B) * PG_FTAB_BLK, s->tab.l4d + j,	\
			    s->tab.off, B);							\
		j += k;										\
		if (j == s->tab.nb)								\
			j = 0;									\
	}											\
	s->fl.j = j;										\
	return;											\
} while (0)

	switch (s->tab.nb_blk) {
	case 0:
		break;
	case 1:
		PG_FILL_TAB(1);
	case 2:
		PG_FILL_TAB(2);
	case 3:
		PG_FILL_TAB(3);
	default:
		PG_FILL_TAB(4);
	}
#undef PG_FILL_TAB

#define PG_FILL_FLOWS(nb_own, w0, w1) do {							\
	if (pg_flows_burst(&s->fl, frames, n, &ip, &ip_step, &l4, &l4_step, own, nb_own)) {	\
		if (ip4)									\
			pg_txs_fill(s, frames, n, tsc, ip, ip_step, l4, l4_step, NULL, NULL, 1,	\
				    own, w0, w1, NULL, NULL, NULL, 0);						\
		else										\
			pg_txs_fill(s, frames, n, tsc, 0, 0, l4, l4_step, NULL, NULL, 0,	\
				    own, w0, w1, NULL, NULL, NULL, 0);						\
		return;										\
	}											\
} while (0)

	switch (s->fl.own) {
	case PG_OWN_NONE:
		if (s->fl.nb_fields == 0) {
			pg_txs_fill(s, frames, n, tsc, 0, 0, 0, 0, NULL, NULL, 0, NULL, 0, 0, NULL, NULL,
				    NULL, 0);
			return;
		}
		PG_FILL_FLOWS(0, 0, 0);
		break;
	case PG_OWN_8:
		PG_FILL_FLOWS(1, 8, 0);
		break;
	case PG_OWN_4:
		PG_FILL_FLOWS(1, 4, 0);
		break;
	default:
		PG_FILL_FLOWS(2, 8, 4);
		break;
	}
#undef PG_FILL_FLOWS
	/* random order, or a field wraps in this burst: frame by frame */
	pg_flows_frames(&s->fl, frames, n, ipa, l4a);
	pg_txs_fill(s, frames, n, tsc, 0, 0, 0, 0, ipa, l4a, ip4, NULL, 0, 0, NULL, NULL, NULL, 0);
}

/* Take back the last n frames built (refused by the TX queue), so the
 * sequence numbers on the wire stay dense. Rare: division is fine. */
static inline void
pg_txs_rewind(struct pg_txs *s, uint32_t n)
{
	s->seq -= n;
	if (s->fl.nb_fields != 0)
		pg_flows_rewind(&s->fl, n);
}

/* Clear window bits for sequence numbers from..from+count-1. */
static inline void
pg_seen_clear(uint64_t *seen, uint64_t from, uint64_t count)
{
	if (count >= PG_SEEN_BITS) {
		memset(seen, 0, PG_SEEN_BITS / 8);
		return;
	}
	while (count) {
		const uint32_t idx = (uint32_t)(from & (PG_SEEN_BITS - 1));
		const uint32_t bit = idx & 63;
		const uint32_t k = count < 64 - bit ? (uint32_t)count : 64 - bit;
		const uint64_t mask = (k == 64 ? ~0ull : ((1ull << k) - 1)) << bit;

		seen[idx >> 6] &= ~mask;
		from += k;
		count -= k;
	}
}

/* Sequence accounting of one own frame: unique, duplicate or reordered.
 * st->rx is not counted here: it is unique + duplicates (pg_read_stats). */
static inline void
pg_rxs_seq(struct pg_rxs *r, struct pg_stream_stats *st, uint32_t seq32)
{
	uint64_t s, *w, bit;
	int64_t d;

	if (PG_UNLIKELY(!r->started)) {
		r->started = 1;
		r->max_seq = seq32;
		r->seen[(seq32 & (PG_SEEN_BITS - 1)) >> 6] |= 1ull << (seq32 & 63);
		st->unique++;
		return;
	}
	/* extend to 64 bits by the signed distance to the highest seen */
	d = (int32_t)(seq32 - (uint32_t)r->max_seq);
	s = r->max_seq + (uint64_t)d;
	w = &r->seen[(s & (PG_SEEN_BITS - 1)) >> 6];
	bit = 1ull << (s & 63);
	if (PG_LIKELY(d > 0)) {
		/* slide the window: forget what the new span held (for d == 1
		 * that is just bit s, which is set right away) */
		if (PG_UNLIKELY(d > 1))
			pg_seen_clear(r->seen, r->max_seq + 1, (uint64_t)d);
		*w |= bit;
		r->max_seq = s;
		st->unique++;
	} else if (PG_UNLIKELY(-d >= (int64_t)PG_SEEN_BITS || -d > (int64_t)r->max_seq)) {
		/* older than the window (or before seq 0): cannot tell */
		st->unique++;
		st->reordered++;
	} else if (*w & bit) {
		st->duplicates++;
	} else {
		*w |= bit;
		st->unique++;
		st->reordered++;
	}
}

/*
 * Account one received frame on port port_index: recognise this trial's
 * stamp, count sequence and one-way latency. Returns 1 if own, 0 if foreign.
 * What a whole burst adds up to (frames on the port, latency samples) is
 * counted once per burst by pg_rx_burst_done().
 */
static inline uint32_t
pg_rx_account(const struct pg_rx *rx, uint32_t port_index, const uint8_t *frame,
	      uint32_t len, uint64_t now)
{
	struct pg_stats *stats = rx->stats;
	const uint32_t off = pg_stamp_at(frame, len, rx->sig);
	uint16_t sid;
	struct pg_rxs *r;

	if (PG_UNLIKELY(off == 0))
		goto foreign;
	frame += off;
	sid = pg_ld16(frame + 4);
	if (PG_UNLIKELY(sid >= rx->nb_streams || rx->rxs[sid].rx_port != (int32_t)port_index))
		goto foreign;

	r = &rx->rxs[sid];
	pg_rxs_seq(r, &rx->sst[sid], pg_ld32(frame + 6));
	pg_lat_account(&stats->lat[r->lat_class], &r->ipdv, pg_ld32(frame + 6), pg_ld64(frame + 10),
		       now);
	return 1;
foreign:
	stats->ports[port_index].rx_foreign++;
	return 0;
}

/* A burst of nb frames on port port_index (own frames were counted frame by
 * frame, in their stream and latency class). */
static inline void
pg_rx_burst_done(const struct pg_rx *rx, uint32_t port_index, uint32_t nb)
{
	rx->stats->ports[port_index].rx += nb;
}

/* Set-up, in pg_stream.c: parse and validate a template (0 or -EINVAL with
 * the reason in err), and compute a trial's base sums. */
/* The limits both backends share (ports, streams, burst, ring size, each
 * stream's ports): 0, or -EINVAL with the reason in err. */
int pg_config_check(const struct pg_config *cfg, char *err, size_t err_len);

int pg_txs_prepare(struct pg_txs *s, const struct pg_stream_config *sc, uint32_t seed, char *err,
		   size_t err_len);
void pg_txs_begin(struct pg_txs *s, const uint8_t *frame, uint16_t stream_id, uint16_t trial_id);
/* Keep only flows f with f % nb_parts == part (nb_flows > part), so one of
 * nb_parts loops sends each flow and a flow keeps its order on the wire. */
void pg_txs_partition(struct pg_txs *s, uint32_t part, uint32_t nb_parts);

/* SIGINT/SIGTERM end the running trial of either backend: the handler sets
 * *stop (a loop's sticky stop flag) and writes a byte to wake_fd (-1: none).
 * Returns 0 or -errno. pg_sig_release(stop) detaches a flag that is going
 * away; the handler stays installed but touches nothing then. */
int pg_sig_catch(volatile int *stop, int wake_fd);
void pg_sig_release(volatile int *stop);
int pg_sig_caught_signo(void);

/*
 * Pacing of one loop's transmit window, the same for every backend: paced
 * from the start of the window (no drift), rate in 48.16 fixed point, and a
 * paced window sends exactly `window` frames, whatever the TSC frequency.
 *
 * What the rate allows by t is floor((t - start) * rate_fp / den), a 128-bit
 * division. It only changes when t passes the next frame's time, so it is
 * computed then, not on every poll: `next` is that time, from a reciprocal
 * (cycles per frame, 32.32 fixed point) rounded so it is never late; an
 * early `next` only costs one more division.
 */
struct pg_pace {
	uint64_t start, end;	/* the window [TSC] */
	uint64_t catch_up;	/* paced: the window's last frames may still go until then */
	uint64_t rate_fp;	/* [pps] 48.16 fixed point; 0: as fast as possible */
	uint64_t window;	/* frames the whole window sends; unpaced: 0 = no limit */
	uint64_t built;		/* frames built so far */
	uint64_t allowed;	/* what the rate allowed when last computed */
	uint64_t next;		/* [TSC] before this, `allowed` stands */
	unsigned __int128 den;	/* tsc_hz << 16 */
	unsigned __int128 cpf;	/* TSC cycles per frame, 32.32 fixed point, rounded down */
	uint32_t burst;
};

static inline void
pg_pace_init(struct pg_pace *p, uint64_t start, uint64_t tx_cycles, uint64_t hz, uint64_t rate_fp,
	     uint64_t window, uint32_t burst)
{
	p->start = start;
	p->end = start + tx_cycles;
	p->catch_up = p->end + hz / 100;	/* 10 ms */
	p->rate_fp = rate_fp;
	p->window = window;
	p->built = 0;
	p->allowed = 0;
	p->next = start;
	p->den = (unsigned __int128)hz << 16;
	p->cpf = rate_fp ? (p->den << 32) / rate_fp : 0;
	p->burst = burst;
}

/* How many frames to build at *now (0..burst) into *n; 0 when the window is
 * over (then *now is when it ended). Past the window's end a paced loop still
 * sends what the window allowed (it may have been preempted just before). */
static inline int
pg_pace_next(struct pg_pace *p, uint64_t *now, uint32_t *n)
{
	uint64_t t = *now, allowed;

	*n = p->burst;
	if (PG_UNLIKELY(t >= p->end)) {
		if (p->rate_fp == 0 || t >= p->catch_up)
			return 0;
		t = p->end;
	}
	if (p->rate_fp == 0) {
		if (p->window == 0)
			return 1;
		if (p->built >= p->window) {	/* a burst of exactly `window` frames is out */
			*now = t;
			return 0;
		}
		*n = p->window - p->built < p->burst ? (uint32_t)(p->window - p->built) : p->burst;
		return 1;
	}
	if (PG_UNLIKELY(t == p->end)) {
		allowed = p->window;
		if (allowed <= p->built) {
			*now = p->end;	/* the window's frames are all out */
			return 0;
		}
	} else {
		if (t >= p->next) {
			p->allowed = (uint64_t)((unsigned __int128)(t - p->start) * p->rate_fp / p->den);
			p->next = p->start + (uint64_t)(((p->allowed + 1) * p->cpf) >> 32);
		}
		allowed = p->allowed;
	}
	*n = allowed > p->built ? (uint32_t)(allowed - p->built < p->burst ? allowed - p->built : p->burst) : 0;
	return 1;
}

#endif /* PG_STREAM_H */
