/*
 * pg_latency.h - latency accounting of one received own frame: one-way
 * latency into its class's HDR-style histogram, and IPDV (RFC 3393 / RFC
 * 5481) against the previous frame of the same sub-stream.
 *
 * Plain C, no DPDK, no syscalls: called from pg_rx_account() per frame.
 * IPDV pairs are consecutive sequence numbers received one right after the
 * other by one loop (RFC 5481 section 4.1's "consecutive" selection): a pair
 * split by loss, reordering or by two loops' queues is skipped, not guessed.
 * The histogram of |IPDV| uses the latency buckets; the sign is kept in the
 * sum and the extremes. PDV (delay - min delay, RFC 5481) needs no state of
 * its own: it is the latency histogram shifted by its minimum.
 */
#ifndef PG_LATENCY_H
#define PG_LATENCY_H

#include <stdint.h>

#include "pktgen.h"

#ifndef PG_UNLIKELY
#define PG_LIKELY(x) __builtin_expect(!!(x), 1)
#define PG_UNLIKELY(x) __builtin_expect(!!(x), 0)
#endif

/* The last frame of one sub-stream a loop received: IPDV's other half. */
struct pg_ipdv {
	uint64_t lat;		/* its one-way latency [TSC cycles] */
	uint32_t seq;
	uint32_t valid;
};

/* HDR-style log-linear bucket of a latency [cycles], see PG_LAT_* . */
static inline uint32_t
pg_lat_bucket(uint64_t v)
{
	const uint32_t half = PG_LAT_SUB_BITS - 1;
	uint32_t b;

	if (v < (1u << PG_LAT_SUB_BITS))
		return (uint32_t)v;
	if (PG_UNLIKELY(v >= (1ull << PG_LAT_MAX_BITS)))
		v = (1ull << PG_LAT_MAX_BITS) - 1;
	b = 63 - __builtin_clzll(v) - half;	/* >= 1 */
	return (b << half) + (uint32_t)(v >> b);
}

/* An empty accumulator (extremes at their neutral values). */
static inline void
pg_lat_reset(struct pg_lat_stats *ls)
{
	__builtin_memset(ls, 0, sizeof(*ls));
	ls->min = UINT64_MAX;
	ls->ivl_min = UINT64_MAX;
	ls->ipdv_min = INT64_MAX;
	ls->ipdv_max = INT64_MIN;
}

/* Frame seq of a sub-stream, sent at tx_tsc, received at now. */
static inline void
pg_lat_account(struct pg_lat_stats *ls, struct pg_ipdv *last, uint32_t seq, uint64_t tx_tsc,
	       uint64_t now)
{
	const int64_t d = (int64_t)(now - tx_tsc);
	const uint64_t lat = d > 0 ? (uint64_t)d : 0;	/* TSCs of two cores may differ a little */

	ls->count++;
	ls->hist[pg_lat_bucket(lat)]++;
	ls->sum += lat;
	if (PG_UNLIKELY(lat < ls->min))
		ls->min = lat;
	if (PG_UNLIKELY(lat > ls->max))
		ls->max = lat;
	if (PG_UNLIKELY(lat < ls->ivl_min))
		ls->ivl_min = lat;
	if (PG_UNLIKELY(lat > ls->ivl_max))
		ls->ivl_max = lat;
	if (PG_LIKELY(last->valid && seq == last->seq + 1)) {
		const int64_t v = (int64_t)(lat - last->lat);
		const uint64_t a = v < 0 ? (uint64_t)-v : (uint64_t)v;

		ls->ipdv_count++;
		ls->ipdv_sum += v;
		ls->ipdv_abs_sum += a;
		ls->ipdv_hist[pg_lat_bucket(a)]++;
		if (PG_UNLIKELY(v < ls->ipdv_min))
			ls->ipdv_min = v;
		if (PG_UNLIKELY(v > ls->ipdv_max))
			ls->ipdv_max = v;
		if (PG_UNLIKELY(a > ls->ipdv_ivl_max))
			ls->ipdv_ivl_max = a;
	}
	last->lat = lat;
	last->seq = seq;
	last->valid = 1;
}

/* Add accumulator a to out (both reset or filled by pg_lat_account). */
static inline void
pg_lat_merge(struct pg_lat_stats *out, const struct pg_lat_stats *a)
{
	uint32_t i;

	if (a->count == 0)
		return;
	out->count += a->count;
	out->sum += a->sum;
	out->min = out->min < a->min ? out->min : a->min;
	out->max = out->max > a->max ? out->max : a->max;
	out->ivl_min = out->ivl_min < a->ivl_min ? out->ivl_min : a->ivl_min;
	out->ivl_max = out->ivl_max > a->ivl_max ? out->ivl_max : a->ivl_max;
	out->ipdv_count += a->ipdv_count;
	out->ipdv_sum += a->ipdv_sum;
	out->ipdv_abs_sum += a->ipdv_abs_sum;
	out->ipdv_min = out->ipdv_min < a->ipdv_min ? out->ipdv_min : a->ipdv_min;
	out->ipdv_max = out->ipdv_max > a->ipdv_max ? out->ipdv_max : a->ipdv_max;
	out->ipdv_ivl_max = out->ipdv_ivl_max > a->ipdv_ivl_max ? out->ipdv_ivl_max : a->ipdv_ivl_max;
	for (i = 0; i < PG_LAT_BUCKETS; i++) {
		out->hist[i] += a->hist[i];
		out->ipdv_hist[i] += a->ipdv_hist[i];
	}
}

#endif /* PG_LATENCY_H */
