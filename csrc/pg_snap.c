/*
 * pg_snap.c - a loop's running counters for a caller that reads them while
 * the trial runs (a soak's counters per interval).
 *
 * The loop writes, the caller reads, nothing waits: each loop has a ring of
 * PG_SNAP_RING slots, each slot a seqlock (gen odd while written, 2 * seq + 2
 * once slot seq is complete). Taking one is a memcpy of ~18 kB once per
 * interval, no syscall; the hot path only compares now with snap_next.
 */
#include <errno.h>
#include <string.h>

#include "pg_engine.h"

void
pg_snap_take(struct pg_lcore *lc, uint64_t now, uint32_t final)
{
	const uint64_t seq = lc->snap_seq;
	struct pg_snap *sn = &lc->snap[seq % PG_SNAP_RING];
	struct pg_lat_stats *ls = &lc->stats.lat[lc->snap_class];
	const uint32_t nb_loops = lc->nb_loops;
	uint32_t si, j;

	__atomic_store_n(&sn->gen, 2 * seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	sn->seq = seq;
	sn->index = lc->snap_index;
	sn->start_tsc = lc->snap_next - lc->snap_index * lc->snap_cycles;
	sn->tsc = now;
	sn->final = final;
	sn->lat_class = lc->snap_class;
	for (si = 0; si < lc->nb_streams; si++) {
		struct pg_snap_stream *o = &sn->streams[si];

		memset(o, 0, sizeof(*o));
		for (j = 0; j < nb_loops; j++) {
			const struct pg_stream_stats *a = &lc->sst[si * nb_loops + j];

			o->tx += a->tx;
			o->tx_dropped += a->tx_dropped;
			o->unique += a->unique;
			o->duplicates += a->duplicates;
			o->reordered += a->reordered;
		}
	}
	sn->lat_count = ls->count;
	sn->lat_sum = ls->sum;
	sn->lat_ivl_min = ls->ivl_min;
	sn->lat_ivl_max = ls->ivl_max;
	sn->ipdv_count = ls->ipdv_count;
	sn->ipdv_abs_sum = ls->ipdv_abs_sum;
	sn->ipdv_ivl_max = ls->ipdv_ivl_max;
	memcpy(sn->lat_hist, ls->hist, sizeof(sn->lat_hist));
	__atomic_store_n(&sn->gen, 2 * seq + 2, __ATOMIC_RELEASE);

	ls->ivl_min = UINT64_MAX;
	ls->ivl_max = 0;
	ls->ipdv_ivl_max = 0;
	lc->snap_seq = seq + 1;
	/* a loop preempted past several boundaries takes one snapshot for them */
	while (lc->snap_next <= now) {
		lc->snap_next += lc->snap_cycles;
		lc->snap_index++;
	}
}

uint64_t
pg_snap_next_seq(struct pg_ctx *ctx, uint32_t loop)
{
	if (loop >= ctx->nb_loops)
		return 0;
	return __atomic_load_n(&ctx->lc[loop].snap_seq, __ATOMIC_ACQUIRE);
}

int
pg_read_snap(struct pg_ctx *ctx, uint32_t loop, uint64_t seq, struct pg_snap *out)
{
	const struct pg_snap *sn, *ring;
	uint64_t g1, g2;

	if (loop >= ctx->nb_loops)
		return pg_fail(ctx, -EINVAL, "loop %u: there are %u loops", loop, ctx->nb_loops);
	ring = __atomic_load_n(&ctx->lc[loop].snap, __ATOMIC_ACQUIRE);
	if (ring == NULL)
		return -EAGAIN;	/* the trial that takes them has not set up yet */
	sn = &ring[seq % PG_SNAP_RING];
	g1 = __atomic_load_n(&sn->gen, __ATOMIC_ACQUIRE);
	if (g1 < 2 * seq + 2)
		return -EAGAIN;	/* not yet taken, or being written */
	if (g1 > 2 * seq + 2)
		return -ESTALE;
	memcpy(out, sn, sizeof(*out));
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	g2 = __atomic_load_n(&sn->gen, __ATOMIC_RELAXED);
	return g2 == g1 ? 0 : -ESTALE;
}
