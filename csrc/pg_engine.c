/*
 * pg_engine.c - the pg_* API over whichever backend the configuration names:
 * create and destroy, the accounting epoch, stats merged over the loops,
 * ports, signals. The trial itself is pg_loop.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "pg_engine.h"

static char pg_global_err[PG_ERRMSG_LEN];

int
pg_fail(struct pg_ctx *ctx, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ctx != NULL ? ctx->err : pg_global_err, PG_ERRMSG_LEN, fmt, ap);
	va_end(ap);
	return status < 0 ? status : -EINVAL;
}

const char *
pg_errmsg(const struct pg_ctx *ctx)
{
	return ctx != NULL ? ctx->err : pg_global_err;
}

static const struct pg_backend *
pg_backend_of(uint32_t backend)
{
	switch (backend) {
	case PG_BACKEND_DPDK:
		return &pg_dpdk_backend;
	case PG_BACKEND_AFPACKET:
		return &pg_afpacket_backend;
	case PG_BACKEND_AFXDP:
		return &pg_afxdp_backend;
	}
	return NULL;
}

/* What every backend needs of a config, then what this one needs. */
static int
pg_check(const struct pg_backend *be, const struct pg_config *cfg)
{
	const uint32_t nb_loops = cfg->nb_lcores ? cfg->nb_lcores : 1;
	char why[PG_ERRMSG_LEN];
	uint32_t i, j;

	if (pg_config_check(cfg, why, sizeof(why)) != 0 || be->check(cfg, why, sizeof(why)) != 0)
		return pg_fail(NULL, -EINVAL, "%s", why);
	if (cfg->nb_lcores > PG_MAX_LCORES)
		return pg_fail(NULL, -EINVAL, "nb_lcores %u out of 0..%u", cfg->nb_lcores,
			       PG_MAX_LCORES);
	for (i = 0; i < cfg->nb_lcores; i++)
		for (j = 0; j < i; j++)
			if (cfg->lcores[i] == cfg->lcores[j])
				return pg_fail(NULL, -EINVAL, "lcores[%u] and lcores[%u] are both %u",
					       j, i, cfg->lcores[i]);
	for (i = 0; i < cfg->nb_streams; i++)
		if (cfg->streams[i].nb_flows < nb_loops)
			return pg_fail(NULL, -EINVAL, "stream %u: %u flows for %u loops: each flow is "
				       "sent by one loop, so each loop needs one", i,
				       cfg->streams[i].nb_flows, nb_loops);
	for (i = j = 0; i < cfg->nb_streams; i++) {
		const double pps = cfg->streams[i].fixed_pps;

		if (!(pps >= 0 && pps < 1e9))
			return pg_fail(NULL, -EINVAL, "stream %u: fixed_pps %g out of 0..1e9", i, pps);
		j += pps == 0;
	}
	if (j == 0)
		return pg_fail(NULL, -EINVAL, "every stream has a fixed_pps: latency streams go beside "
			       "a load, one stream at least must have none");
	return 0;
}

/* Templates, every loop's share of every stream, receive windows: all before
 * the backend touches a port, so a bad template fails first. */
static int
pg_streams_setup(struct pg_ctx *ctx, const struct pg_config *cfg)
{
	const uint32_t nb_loops = ctx->nb_loops;
	uint32_t si, l, j;

	for (si = 0; si < cfg->nb_streams; si++) {
		const struct pg_stream_config *sc = &cfg->streams[si];
		char why[PG_ERRMSG_LEN - 32];
		struct pg_txs base;
		int ret;

		ret = pg_txs_prepare(&base, sc, si + 1, why, sizeof(why));
		if (ret != 0)
			return pg_fail(NULL, ret, "stream %u: %s", si, why);
		ctx->frames[si] = ctx->be->zalloc(sc->frame_len);
		if (ctx->frames[si] == NULL)
			return pg_fail(NULL, -ENOMEM, "stream %u: no memory for the template", si);
		memcpy(ctx->frames[si], sc->frame, sc->frame_len);
		for (l = 0; l < nb_loops; l++) {
			struct pg_lcore *lc = &ctx->lc[l];

			lc->tx[si].txs = base;
			if (nb_loops > 1)
				pg_txs_partition(&lc->tx[si].txs, l, nb_loops);
			pg_txs_table(&lc->tx[si].txs, sc->frame);
			lc->tx[si].port_index = sc->tx_port;
			lc->tx[si].queue_id = (uint16_t)l;
			/* any of the stream's sub-streams may reach any loop */
			for (j = 0; j < nb_loops; j++) {
				struct pg_rxs *rs = &lc->rxs[si * nb_loops + j];

				rs->rx_port = sc->rx_port;
				rs->lat_class = sc->fixed_pps > 0 ? PG_LAT_PROBE : PG_LAT_LOAD;
				if (sc->rx_port < 0)
					continue;
				rs->seen = ctx->be->zalloc(PG_SEEN_BITS / 8);
				if (rs->seen == NULL)
					return pg_fail(NULL, -ENOMEM, "stream %u: no memory for the %u-bit "
						       "window of loop %u", si, PG_SEEN_BITS, l);
			}
		}
	}
	return 0;
}

int
pg_create(const struct pg_config *cfg, struct pg_ctx **ctxp)
{
	const struct pg_backend *be = pg_backend_of(cfg->backend);
	struct pg_ctx *ctx;
	uint32_t l;
	int ret;

	*ctxp = NULL;
	pg_global_err[0] = '\0';
	if (be == NULL)
		return pg_fail(NULL, -EINVAL, "backend %u: need PG_BACKEND_DPDK (%u), _AFPACKET (%u) "
			       "or _AFXDP (%u)", cfg->backend, PG_BACKEND_DPDK, PG_BACKEND_AFPACKET,
			       PG_BACKEND_AFXDP);
	ret = pg_check(be, cfg);
	if (ret != 0)
		return ret;
	ctx = be->zalloc(sizeof(*ctx));
	if (ctx == NULL)
		return pg_fail(NULL, -ENOMEM, "no memory for the context (%zu B)", sizeof(*ctx));
	ctx->be = be;
	ctx->nb_ports = cfg->nb_ports;
	ctx->nb_loops = cfg->nb_lcores ? cfg->nb_lcores : 1;
	ctx->nb_streams = cfg->nb_streams;
	for (l = 0; l < ctx->nb_loops; l++) {
		struct pg_lcore *lc = &ctx->lc[l];

		lc->ctx = ctx;
		lc->stop = &ctx->stop;
		lc->io = be->io;
		lc->loop = l;
		lc->lcore_id = cfg->nb_lcores ? cfg->lcores[l] : 0;
		lc->nb_loops = ctx->nb_loops;
		lc->nb_streams = cfg->nb_streams;
		lc->burst = cfg->burst;
		for (uint32_t i = 0; i < cfg->nb_streams; i++) {
			const struct pg_stream_config *sc = &cfg->streams[i];

			lc->weight[i] = sc->fixed_pps > 0 ? 0 : sc->weight ? sc->weight : 1;
			if (sc->fixed_pps > 0) {
				lc->probe_pps[lc->nb_probes] = sc->fixed_pps;
				lc->probe[lc->nb_probes++] = i;
				lc->snap_class = PG_LAT_PROBE;
			}
		}
		lc->snap_next = UINT64_MAX;
		lc->rx.nb_streams = cfg->nb_streams * ctx->nb_loops;
		lc->rx.rxs = lc->rxs;
		lc->rx.sst = lc->sst;
		lc->rx.stats = &lc->stats;
	}
	ret = pg_streams_setup(ctx, cfg);
	if (ret == 0)
		ret = be->setup(ctx, cfg);
	if (ret != 0) {
		pg_destroy(ctx);
		return ret;
	}
	ctx->tsc_hz = pg_tsc_hz();
	be->describe(ctx, ctx->desc, sizeof(ctx->desc));
	pg_begin_trial(ctx);
	*ctxp = ctx;
	return 0;
}

void
pg_destroy(struct pg_ctx *ctx)
{
	const struct pg_backend *be;
	uint32_t i, l;

	if (ctx == NULL)
		return;
	be = ctx->be;
	pg_sig_release(&ctx->stop);
	be->teardown(ctx);	/* ports first: they may hold buffers of the streams */
	for (l = 0; l < PG_MAX_LCORES; l++) {
		for (i = 0; i < PG_MAX_SUBSTREAMS; i++)
			be->free(ctx->lc[l].rxs[i].seen);
		be->free(ctx->lc[l].snap);
		for (i = 0; i < PG_MAX_STREAMS; i++)
			pg_txs_release(&ctx->lc[l].tx[i].txs);
	}
	for (i = 0; i < PG_MAX_STREAMS; i++)
		be->free(ctx->frames[i]);
	be->free(ctx);
}

const char *
pg_description(const struct pg_ctx *ctx)
{
	return ctx->desc;
}

#define PG_PORT_CHECK(ctx, pi) do {							\
	if ((pi) >= (ctx)->nb_ports)							\
		return pg_fail(ctx, -EINVAL, "port index %u >= %u", pi, (ctx)->nb_ports); \
} while (0)

int
pg_port_info(struct pg_ctx *ctx, uint32_t pi, uint32_t *port_id, uint8_t *mac)
{
	PG_PORT_CHECK(ctx, pi);
	return ctx->be->port_info(ctx, pi, port_id, mac);
}

int
pg_link_up(struct pg_ctx *ctx, uint32_t pi)
{
	PG_PORT_CHECK(ctx, pi);
	return ctx->be->link_up(ctx, pi);
}

int
pg_port_rx_missed(struct pg_ctx *ctx, uint32_t pi, uint64_t *missed)
{
	PG_PORT_CHECK(ctx, pi);
	*missed = ctx->be->rx_missed(ctx, pi);
	return 0;
}

int
pg_begin_trial(struct pg_ctx *ctx)
{
	const uint32_t nb_loops = ctx->nb_loops;
	uint32_t i, l;

	if (ctx->be->begin_trial != NULL)
		ctx->be->begin_trial(ctx);
	ctx->trial_id++;
	for (l = 0; l < nb_loops; l++) {
		struct pg_lcore *lc = &ctx->lc[l];

		memset(&lc->stats, 0, sizeof(lc->stats));
		memset(lc->sst, 0, sizeof(lc->sst));
		for (i = 0; i < PG_LAT_CLASSES; i++)
			pg_lat_reset(&lc->stats.lat[i]);
		lc->tx_done = 0;
		lc->rx.sig = PG_MAGIC | (uint32_t)ctx->trial_id << 16;
		for (i = 0; i < lc->nb_streams; i++)
			pg_txs_begin(&lc->tx[i].txs, ctx->frames[i], (uint16_t)(i * nb_loops + l),
				     ctx->trial_id);
		for (i = 0; i < lc->rx.nb_streams; i++) {
			lc->rxs[i].started = 0;
			lc->rxs[i].max_seq = 0;
			lc->rxs[i].ipdv.valid = 0;
			if (lc->rxs[i].seen != NULL)
				memset(lc->rxs[i].seen, 0, PG_SEEN_BITS / 8);
		}
	}
	return ctx->trial_id;
}

int
pg_account_frame(struct pg_ctx *ctx, uint32_t pi, const uint8_t *frame, uint32_t len,
		 uint64_t now_tsc)
{
	uint32_t own;

	PG_PORT_CHECK(ctx, pi);
	own = pg_rx_account(&ctx->lc[0].rx, pi, frame, len, now_tsc);
	pg_rx_burst_done(&ctx->lc[0].rx, pi, 1);
	return (int)own;
}

int
pg_run_trial(struct pg_ctx *ctx, const struct pg_trial *trial)
{
	if (!(trial->duration_s > 0 && trial->duration_s < 1e6) ||
	    !(trial->drain_s >= 0 && trial->drain_s < 1e6) ||
	    !(trial->rate_pps >= 0 && trial->rate_pps < 1e12))
		return pg_fail(ctx, -EINVAL, "trial: duration %g s, drain %g s, rate %g pps out of "
			       "range", trial->duration_s, trial->drain_s, trial->rate_pps);
	if (ctx->be->check_caller != NULL) {
		const int ret = ctx->be->check_caller(ctx);

		if (ret != 0)
			return ret;
	}
	return pg_loop_run_trial(ctx, trial);
}

void
pg_stop(struct pg_ctx *ctx)
{
	ctx->stop = 1;
}

/* Add loop lc's counters to out: its sub-streams to their streams. */
static void
pg_stats_add(struct pg_stats *out, const struct pg_ctx *ctx, const struct pg_lcore *lc)
{
	const struct pg_stats *st = &lc->stats;
	const uint32_t nb_loops = ctx->nb_loops;
	uint32_t si, j, i;

	for (si = 0; si < ctx->nb_streams; si++) {
		struct pg_stream_stats *o = &out->streams[si];

		for (j = 0; j < nb_loops; j++) {
			const struct pg_stream_stats *a = &lc->sst[si * nb_loops + j];

			o->tx += a->tx;
			o->tx_dropped += a->tx_dropped;
			o->tx_nombuf += a->tx_nombuf;
			o->rx += a->unique + a->duplicates;	/* the loop counts no rx */
			o->unique += a->unique;
			o->duplicates += a->duplicates;
			o->reordered += a->reordered;
		}
	}
	for (i = 0; i < ctx->nb_ports; i++) {
		out->ports[i].rx += st->ports[i].rx;
		out->ports[i].rx_foreign += st->ports[i].rx_foreign;
	}
	out->tx_cycles = out->tx_cycles > st->tx_cycles ? out->tx_cycles : st->tx_cycles;
	out->drain_cycles = out->drain_cycles > st->drain_cycles ? out->drain_cycles : st->drain_cycles;
	out->interrupted |= st->interrupted;
	for (i = 0; i < PG_LAT_CLASSES; i++)
		pg_lat_merge(&out->lat[i], &st->lat[i]);
}

/* Merged stats of loops from..to-1. */
static void
pg_stats_of(struct pg_ctx *ctx, uint32_t from, uint32_t to, struct pg_stats *out)
{
	uint32_t i;

	memset(out, 0, sizeof(*out));
	out->tsc_hz = ctx->tsc_hz;
	out->trial_id = ctx->trial_id;
	out->nb_streams = ctx->nb_streams;
	out->nb_ports = ctx->nb_ports;
	for (i = 0; i < PG_LAT_CLASSES; i++)
		pg_lat_reset(&out->lat[i]);
	for (i = from; i < to; i++)
		pg_stats_add(out, ctx, &ctx->lc[i]);
	for (i = 0; i < ctx->nb_streams; i++)
		out->ports[ctx->lc[0].tx[i].port_index].tx += out->streams[i].tx;
}

int
pg_read_stats(struct pg_ctx *ctx, struct pg_stats *out)
{
	pg_stats_of(ctx, 0, ctx->nb_loops, out);
	return 0;
}

int
pg_read_loop_stats(struct pg_ctx *ctx, uint32_t loop, struct pg_stats *out)
{
	if (loop >= ctx->nb_loops)
		return pg_fail(ctx, -EINVAL, "loop %u >= %u loops", loop, ctx->nb_loops);
	pg_stats_of(ctx, loop, loop + 1, out);
	return 0;
}

int
pg_catch_signals(struct pg_ctx *ctx, int wake_fd)
{
	const int ret = pg_sig_catch(&ctx->stop, wake_fd);

	return ret == 0 ? 0 : pg_fail(ctx, ret, "sigaction: %s", strerror(-ret));
}

int
pg_signal_caught(void)
{
	return pg_sig_caught_signo();
}
