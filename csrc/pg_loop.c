/*
 * pg_loop.c - the one trial loop, whatever the backend: each loop's share of
 * the transmit window from a shared start, the flush of what the device has
 * not taken, then receive only until the drain is over or everything is back.
 */
#include <errno.h>
#include <string.h>

#include "pg_engine.h"
#include "pg_tsc.h"

static inline uint32_t
pg_rx_all(struct pg_lcore *lc)
{
	const struct pg_io *io = lc->io;
	uint32_t r, got = 0;

	for (r = 0; r < lc->nb_rxq; r++)
		got += io->rx_burst(&lc->rx, &lc->rxq[r]);
	return got;
}

/* Every loop's window is over and every stream that expects frames back has
 * them all, whichever loops received them. Read while the others run: the
 * relaxed loads see each counter whole, if not the latest. */
static int
pg_all_received(const struct pg_ctx *ctx)
{
	const uint32_t nb_loops = ctx->nb_loops;
	uint32_t si, l, j;

	for (l = 0; l < nb_loops; l++)
		if (!__atomic_load_n(&ctx->lc[l].tx_done, __ATOMIC_ACQUIRE))
			return 0;
	for (si = 0; si < ctx->nb_streams; si++) {
		uint64_t tx = 0, unique = 0;

		if (ctx->lc[0].rxs[si * nb_loops].rx_port < 0)
			continue;
		for (l = 0; l < nb_loops; l++) {
			for (j = 0; j < nb_loops; j++) {
				const struct pg_stream_stats *st = &ctx->lc[l].sst[si * nb_loops + j];

				tx += __atomic_load_n(&st->tx, __ATOMIC_RELAXED);
				unique += __atomic_load_n(&st->unique, __ATOMIC_RELAXED);
			}
		}
		if (unique < tx)
			return 0;
	}
	return 1;
}

/* Frames built in the window that the device has not taken yet (a full TX
 * queue, a send buffer full): offer them for 1/PG_FLUSH_DIV s while
 * receiving, then take back what is left: never on the wire, so tx_dropped. */
static void
pg_flush(struct pg_lcore *lc)
{
	const struct pg_io *io = lc->io;
	const uint64_t end = pg_tsc_read() + lc->tsc_hz / PG_FLUSH_DIV;
	uint32_t s, pending;

	do {
		pending = 0;
		for (s = 0; s < lc->nb_streams; s++)
			pending += io->tx_flush(&lc->tx[s]);
		if (pending == 0)
			return;
		pg_rx_all(lc);
	} while (!*lc->stop && pg_tsc_read() < end);
	for (s = 0; s < lc->nb_streams; s++) {
		struct pg_stream_stats *st = &lc->sst[lc->tx[s].txs.stream_id];
		const uint32_t k = io->tx_cancel(&lc->tx[s]);

		st->tx -= k;
		st->tx_dropped += k;
	}
}

/* Which stream sends the next burst: the one furthest behind its share of the
 * frames this loop sent (frames / weight, the lowest index on a tie). A mix of
 * frame sizes (IMIX 7:4:1) then keeps its proportions frame by frame, whatever
 * a turn could send: a short pacing allowance, a catch-up burst after the loop
 * was preempted, or a full TX queue that took nothing. */
static inline uint32_t
pg_turn(const struct pg_lcore *lc)
{
	uint32_t best = 0, i;

	while (lc->weight[best] == 0)	/* a latency stream: paced apart (pg_probes) */
		best++;
	for (i = best + 1; i < lc->nb_streams; i++) {
		const uint64_t mine = lc->sst[lc->tx[i].txs.stream_id].tx * lc->weight[best];
		const uint64_t theirs = lc->sst[lc->tx[best].txs.stream_id].tx * lc->weight[i];

		if (lc->weight[i] != 0 && mine < theirs)
			best = i;
	}
	return best;
}

/* The latency streams' turn: each sends what its own rate allows by now,
 * whatever the load does. Returns 1 while any still has frames to send. */
static inline int
pg_probes(struct pg_lcore *lc, struct pg_pace *pp, uint64_t now)
{
	const struct pg_io *io = lc->io;
	int more = 0;
	uint32_t i, n;

	for (i = 0; i < lc->nb_probes; i++) {
		uint64_t t = now;

		if (!pg_pace_next(&pp[i], &t, &n))
			continue;
		more = 1;
		if (n != 0) {
			struct pg_tx *tx = &lc->tx[lc->probe[i]];
			const uint32_t k = io->tx_burst(tx, &lc->sst[tx->txs.stream_id], n, now);

			lc->sst[tx->txs.stream_id].tx += k;
			pp[i].built += k;
		}
	}
	return more;
}

/* One loop through one trial. */
static void
pg_loop(struct pg_lcore *lc, uint64_t start)
{
	const struct pg_io *io = lc->io;
	volatile int *const stop = lc->stop;
	struct pg_pace pace, pp[PG_MAX_STREAMS];
	uint64_t now, end, tx_end;
	uint32_t n, i;
	int load;

	/* the others start from the same TSC: their windows coincide */
	while (pg_tsc_read() < start && !*stop)
		pg_tsc_relax();
	pg_pace_init(&pace, start, lc->tx_cycles, lc->tsc_hz, lc->rate_fp, lc->window, lc->burst);
	for (i = 0; i < lc->nb_probes; i++)
		pg_pace_init(&pp[i], start, lc->tx_cycles, lc->tsc_hz, lc->probe_rate_fp[i],
			     (uint64_t)(lc->probe_pps[i] * ((double)lc->tx_cycles / (double)lc->tsc_hz) /
					lc->nb_loops + 0.5), lc->burst);
	if (lc->snap_cycles) {
		lc->snap_index = 1;
		lc->snap_next = start + lc->snap_cycles;
	}
	now = tx_end = start;
	load = 1;
	while (PG_LIKELY(!*stop)) {
		now = pg_tsc_read();
		/* latency streams first: their frames keep their own schedule */
		const int probes = lc->nb_probes != 0 && pg_probes(lc, pp, now);

		if (load) {
			tx_end = now;
			load = pg_pace_next(&pace, &tx_end, &n);
			if (load && n != 0) {
				struct pg_tx *tx = &lc->tx[pg_turn(lc)];
				const uint32_t k = io->tx_burst(tx, &lc->sst[tx->txs.stream_id], n, now);

				lc->sst[tx->txs.stream_id].tx += k;
				pace.built += k;
			}
		}
		if (!load && !probes)
			break;
		pg_rx_all(lc);
		if (PG_UNLIKELY(now >= lc->snap_next))
			pg_snap_take(lc, now, 0);
	}
	lc->stats.tx_cycles = tx_end > start ? tx_end - start : 0;
	pg_flush(lc);
	__atomic_store_n(&lc->tx_done, 1, __ATOMIC_RELEASE);

	/* keep receiving so frames in flight are counted, not lost */
	now = pg_tsc_read();
	start = now;
	end = now + lc->drain_cycles;
	while (lc->nb_rxq != 0 && !*stop && now < end) {
		if (pg_rx_all(lc) == 0 && pg_all_received(lc->ctx))
			break;
		now = pg_tsc_read();
		if (PG_UNLIKELY(now >= lc->snap_next))
			pg_snap_take(lc, now, 0);
	}
	lc->stats.drain_cycles = now - start;
	lc->stats.interrupted = *stop != 0;
	if (lc->snap_cycles) {
		pg_snap_take(lc, pg_tsc_read(), 1);
		lc->snap_next = UINT64_MAX;
	}
}

/* Loops 1..N-1, on their cores: check in, wait for the shared start. */
static int
pg_loop_launched(void *arg)
{
	struct pg_lcore *lc = arg;
	struct pg_ctx *ctx = lc->ctx;
	uint64_t start;

	__atomic_fetch_add(&ctx->nb_ready, 1, __ATOMIC_RELEASE);
	while ((start = __atomic_load_n(&ctx->start_tsc, __ATOMIC_ACQUIRE)) == 0)
		pg_tsc_relax();
	if (start != PG_START_ABORT)
		pg_loop(lc, start);
	return 0;
}

int
pg_loop_run_trial(struct pg_ctx *ctx, const struct pg_trial *trial)
{
	const uint64_t hz = ctx->tsc_hz;
	const uint32_t nb_loops = ctx->nb_loops;
	uint64_t window, rate_fp, start, deadline;
	uint32_t l;
	int ret;

	pg_begin_trial(ctx);
	/* deadlines and each loop's share of the rate in TSC terms before the
	 * loops; the rate is 48.16 fixed point so fractional pps are honoured */
	rate_fp = (uint64_t)(trial->rate_pps / nb_loops * 65536.0 + 0.5);
	/* what a paced window sends: rate x duration, split so the loops' shares
	 * add up to it exactly; truncating the window to whole TSC cycles would
	 * otherwise lose its last frame */
	window = trial->frames ? trial->frames : (uint64_t)(trial->rate_pps * trial->duration_s + 0.5);
	for (l = 0; l < nb_loops; l++) {
		struct pg_lcore *lc = &ctx->lc[l];
		uint32_t i;

		lc->tsc_hz = hz;
		lc->rate_fp = rate_fp;
		lc->window = window / nb_loops + (l < window % nb_loops);
		lc->tx_cycles = (uint64_t)(trial->duration_s * (double)hz);
		lc->drain_cycles = (uint64_t)(trial->drain_s * (double)hz);
		for (i = 0; i < lc->nb_probes; i++)
			lc->probe_rate_fp[i] = (uint64_t)(lc->probe_pps[i] / nb_loops * 65536.0 + 0.5);
		lc->snap_cycles = trial->interval_s > 0 ? (uint64_t)(trial->interval_s * (double)hz) : 0;
		lc->snap_next = UINT64_MAX;	/* pg_loop arms it from the shared start */
		if (lc->snap_cycles && lc->snap == NULL) {
			struct pg_snap *ring = ctx->be->zalloc(sizeof(*ring) * PG_SNAP_RING);

			if (ring == NULL)
				return pg_fail(ctx, -ENOMEM, "no memory for loop %u's snapshots (%zu B)", l,
					       sizeof(*ring) * PG_SNAP_RING);
			__atomic_store_n(&lc->snap, ring, __ATOMIC_RELEASE);
		}
	}
	if (nb_loops == 1) {
		pg_loop(&ctx->lc[0], pg_tsc_read());
		return 0;
	}

	ctx->nb_ready = 0;
	ctx->start_tsc = 0;
	for (l = 1; l < nb_loops; l++) {
		ret = ctx->be->launch(ctx, l, pg_loop_launched, &ctx->lc[l]);
		if (ret != 0) {
			__atomic_store_n(&ctx->start_tsc, PG_START_ABORT, __ATOMIC_RELEASE);
			while (--l > 0)
				ctx->be->join(ctx, l);
			return ret;
		}
	}
	/* start together once all are spinning; a loop slower than a second
	 * to come (its CPU is busy) catches up from the shared start */
	deadline = pg_tsc_read() + hz;
	while (__atomic_load_n(&ctx->nb_ready, __ATOMIC_ACQUIRE) < nb_loops - 1 && !ctx->stop &&
	       pg_tsc_read() < deadline)
		pg_tsc_relax();
	/* 100 us ahead, so every loop reads it before it passes */
	start = pg_tsc_read() + hz / 10000;
	__atomic_store_n(&ctx->start_tsc, start, __ATOMIC_RELEASE);
	pg_loop(&ctx->lc[0], start);
	for (l = 1; l < nb_loops; l++)
		ctx->be->join(ctx, l);
	return 0;
}
