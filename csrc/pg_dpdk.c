/*
 * pg_dpdk.c - DPDK backend of the generator: EAL, ethdev ports, mempools, and
 * the I/O table of the one loop (rte_eth_tx_burst / rte_eth_rx_burst).
 *
 * Loop i owns queue i of every port and one TX pool per stream (every mbuf
 * holds the stream's template, written once). A flow hashes to one RX queue
 * (RSS), so a loop sees each sub-stream's frames on it in order. Ports and
 * pools are set up in pg_dpdk_port.c.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <rte_common.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_prefetch.h>
#include <rte_version.h>

#include "pg_dpdk.h"
#include "pg_tsc.h"

unsigned int pg_dpdk_instance;	/* makes pool names unique per process */

/* ---- EAL ---------------------------------------------------------------- */

int
pg_eal_init(int argc, char **argv)
{
	if (rte_eal_init(argc, argv) < 0)
		return pg_fail(NULL, -rte_errno, "rte_eal_init failed: %s (see the EAL log above)",
			       rte_strerror(rte_errno));
	pg_tsc_set_hz(rte_get_tsc_hz());
	return 0;
}

int
pg_eal_cleanup(void)
{
	char dir[PATH_MAX];
	int ret;

	/* EAL creates /var/run/dpdk/<prefix> even with --in-memory and leaves
	 * it behind; remove it if empty (another process may share the prefix) */
	snprintf(dir, sizeof(dir), "%s", rte_eal_get_runtime_dir());
	ret = rte_eal_cleanup();
	if (ret == 0 && dir[0] != '\0')
		rmdir(dir);
	return ret;
}

const char *
pg_dpdk_version(void)
{
	return rte_version();
}

/* ---- the loop's I/O ----------------------------------------------------- */

/* Offer the frames a full TX queue refused; returns how many are still held. */
static inline uint32_t
pg_dpdk_retry(struct pg_tx *t, struct pg_dpdk_tx *d)
{
	const uint16_t sent = rte_eth_tx_burst(t->dev_id, t->queue_id, d->pending, d->nb_pending);

	d->nb_pending -= sent;
	if (d->nb_pending != 0 && sent != 0)
		memmove(d->pending, &d->pending[sent], d->nb_pending * sizeof(d->pending[0]));
	return d->nb_pending;
}

/*
 * A full TX queue is back-pressure, often for a moment only (a vhost-user
 * peer's poller was descheduled): refused frames are kept and offered again
 * first. A paced trial so keeps its rate through short stalls; a longer one
 * shows as an achieved rate below the intended load (generator-limited), not
 * as frames the DUT lost.
 *
 * mbufs come from the pool with rte_mempool_get_bulk, as testpmd's txonly
 * does: a freed mbuf keeps its template and length (pg_fill_mbuf wrote them,
 * nothing on the TX path clears them), so one pass sets what a PMD may have
 * moved (data offset, lengths) and collects the frame pointers.
 */
static uint32_t
pg_dpdk_tx_burst(struct pg_tx *t, struct pg_stream_stats *st, uint32_t n, uint64_t now)
{
	struct pg_dpdk_tx *d = t->io;
	struct rte_mbuf *pkts[PG_BURST_MAX];
	uint8_t *frames[PG_BURST_MAX];
	const uint16_t len = (uint16_t)d->frame_len;
	uint32_t i;
	uint16_t sent;

	if (unlikely(d->nb_pending != 0) && pg_dpdk_retry(t, d) != 0)
		return 0;
	if (unlikely(rte_mempool_get_bulk(d->pool, (void **)pkts, n) != 0)) {
		st->tx_nombuf++;
		return 0;
	}
	for (i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];

		m->data_off = RTE_PKTMBUF_HEADROOM;
		m->data_len = len;
		m->pkt_len = len;
		frames[i] = (uint8_t *)m->buf_addr + RTE_PKTMBUF_HEADROOM;
	}
	pg_txs_stamp(&t->txs, frames, n, now);
	sent = rte_eth_tx_burst(t->dev_id, t->queue_id, pkts, (uint16_t)n);
	if (unlikely(sent < n)) {
		d->nb_pending = (uint16_t)(n - sent);
		memcpy(d->pending, &pkts[sent], d->nb_pending * sizeof(pkts[0]));
	}
	return n;
}

static uint32_t
pg_dpdk_tx_flush(struct pg_tx *t)
{
	struct pg_dpdk_tx *d = t->io;

	return d->nb_pending ? pg_dpdk_retry(t, d) : 0;
}

static uint32_t
pg_dpdk_tx_cancel(struct pg_tx *t)
{
	struct pg_dpdk_tx *d = t->io;
	const uint32_t k = d->nb_pending;

	if (k == 0)
		return 0;
	rte_pktmbuf_free_bulk(d->pending, k);
	d->nb_pending = 0;
	pg_txs_rewind(&t->txs, k);
	return k;
}

/* One burst (up to PG_BURST_MAX, whatever the TX burst) of one queue. */
static uint32_t
pg_dpdk_rx_burst(const struct pg_rx *rx, struct pg_rxq *q)
{
	struct rte_mbuf *pkts[PG_BURST_MAX];
	const uint32_t pi = q->port_index;
	uint64_t now;
	uint16_t nb, i;

	nb = rte_eth_rx_burst(q->dev_id, q->queue_id, pkts, PG_BURST_MAX);
	if (nb == 0)
		return 0;
	now = pg_tsc_read();
	for (i = 0; i < nb && i < PG_RX_PREFETCH; i++)
		rte_prefetch0(rte_pktmbuf_mtod(pkts[i], void *));
	for (i = 0; i < nb; i++) {
		if (i + PG_RX_PREFETCH < nb)
			rte_prefetch0(rte_pktmbuf_mtod(pkts[i + PG_RX_PREFETCH], void *));
		pg_rx_account(rx, pi, rte_pktmbuf_mtod(pkts[i], const uint8_t *), pkts[i]->data_len, now);
	}
	rte_pktmbuf_free_bulk(pkts, nb);
	pg_rx_burst_done(rx, pi, nb);
	return nb;
}

static const struct pg_io pg_dpdk_io = {
	.tx_burst = pg_dpdk_tx_burst,
	.rx_burst = pg_dpdk_rx_burst,
	.tx_flush = pg_dpdk_tx_flush,
	.tx_cancel = pg_dpdk_tx_cancel,
};

/* ---- set-up --------------------------------------------------------------- */

static void *
pg_dpdk_zalloc(size_t len)
{
	return rte_zmalloc(NULL, len, RTE_CACHE_LINE_SIZE);
}

static void
pg_dpdk_free(void *p)
{
	rte_free(p);
}

#define PG_BAD(...) do { snprintf(err, err_len, __VA_ARGS__); return -EINVAL; } while (0)

static int
pg_dpdk_check(const struct pg_config *cfg, char *err, size_t err_len)
{
	uint32_t i;

	/* an RX ring full of mbufs, bursts in flight and the lcore cache. Per
	 * pool, whatever the number of loops: each pool has one loop (its RX
	 * queue, or its share of a stream), which allocates and frees its
	 * mbufs, so no loop's cache or ring can starve another's pool. Memory
	 * so grows with the loops: (ports + streams) x loops pools. */
	if (cfg->nb_mbufs < cfg->ring_size + 2 * PG_POOL_CACHE + PG_BURST_MAX)
		PG_BAD("nb_mbufs %u < ring_size %u + %u", cfg->nb_mbufs, cfg->ring_size,
		       2 * PG_POOL_CACHE + PG_BURST_MAX);
	if (cfg->nb_lcores <= 1)
		return 0;	/* one loop runs on whichever lcore calls pg_run_trial */
	/* loop 0 is the main lcore (it launches the others), the others are
	 * enabled worker lcores */
	if (cfg->lcores[0] != rte_get_main_lcore())
		PG_BAD("lcores[0] is %u, but loop 0 runs on the EAL main lcore, %u (put it first "
		       "in -l, or pass --main-lcore)", cfg->lcores[0], rte_get_main_lcore());
	for (i = 1; i < cfg->nb_lcores && i < PG_MAX_LCORES; i++)
		if (!rte_lcore_is_enabled(cfg->lcores[i]))
			PG_BAD("lcores[%u]: lcore %u is not one EAL runs (%u enabled): name every "
			       "loop's lcore in -l", i, cfg->lcores[i], rte_lcore_count());
	return 0;
}

static int
pg_dpdk_setup(struct pg_ctx *ctx, const struct pg_config *cfg)
{
	struct pg_dpdk *dp;
	uint32_t i, j, l;
	int ret;

	dp = rte_zmalloc("pg_dpdk", sizeof(*dp), RTE_CACHE_LINE_SIZE);
	if (dp == NULL)
		return pg_fail(NULL, -ENOMEM, "no memory for the ports (%zu B)", sizeof(*dp));
	ctx->priv = dp;
	pg_dpdk_instance++;
	for (i = 0; i < cfg->nb_ports; i++) {
		ret = pg_dpdk_port_setup(ctx, cfg, i);
		if (ret != 0)
			return ret;
	}
	for (i = 0; i < cfg->nb_streams; i++) {
		ret = pg_dpdk_stream_setup(ctx, cfg, i);
		if (ret != 0)
			return ret;
	}
	/* poll only ports some stream expects frames on: queue l in loop l */
	for (i = 0; i < cfg->nb_ports; i++) {
		for (j = 0; j < cfg->nb_streams; j++)
			if (cfg->streams[j].rx_port == (int32_t)i)
				break;
		if (j == cfg->nb_streams)
			continue;
		for (l = 0; l < ctx->nb_loops; l++) {
			struct pg_lcore *lc = &ctx->lc[l];
			struct pg_rxq *q = &lc->rxq[lc->nb_rxq++];

			q->port_index = i;
			q->dev_id = dp->ports[i].port_id;
			q->queue_id = (uint16_t)l;
		}
	}
	for (l = 0; l < ctx->nb_loops; l++)
		ctx->lc[l].lcore_id = cfg->nb_lcores > 1 ? cfg->lcores[l] : rte_get_main_lcore();
	return 0;
}

static void
pg_dpdk_teardown(struct pg_ctx *ctx)
{
	struct pg_dpdk *dp = ctx->priv;
	uint32_t i, l;

	if (dp == NULL)
		return;
	/* ports first: they hold mbufs of the pools freed below */
	for (i = 0; i < ctx->nb_ports; i++) {
		if (dp->ports[i].started) {
			rte_eth_dev_stop(dp->ports[i].port_id);
			rte_eth_dev_close(dp->ports[i].port_id);
		}
	}
	for (l = 0; l < PG_MAX_LCORES; l++)
		for (i = 0; i < PG_MAX_STREAMS; i++) {
			if (dp->tx[l][i].nb_pending)
				rte_pktmbuf_free_bulk(dp->tx[l][i].pending, dp->tx[l][i].nb_pending);
			rte_mempool_free(dp->tx[l][i].pool);
		}
	for (i = 0; i < ctx->nb_ports; i++)
		for (l = 0; l < PG_MAX_LCORES; l++)
			rte_mempool_free(dp->ports[i].rx_pool[l]);
	rte_free(dp);
	ctx->priv = NULL;
}

/* ---- ports, launching, description ---------------------------------------- */

static int
pg_dpdk_port_info(struct pg_ctx *ctx, uint32_t pi, uint32_t *port_id, uint8_t *mac)
{
	const uint16_t id = ((struct pg_dpdk *)ctx->priv)->ports[pi].port_id;
	struct rte_ether_addr addr;
	int ret;

	*port_id = id;
	ret = rte_eth_macaddr_get(id, &addr);
	if (ret != 0)
		return pg_fail(ctx, ret, "port %u: rte_eth_macaddr_get: %s", pi, rte_strerror(-ret));
	memcpy(mac, addr.addr_bytes, RTE_ETHER_ADDR_LEN);
	return 0;
}

static int
pg_dpdk_link_up(struct pg_ctx *ctx, uint32_t pi)
{
	struct rte_eth_link link;
	int ret;

	ret = rte_eth_link_get_nowait(((struct pg_dpdk *)ctx->priv)->ports[pi].port_id, &link);
	if (ret != 0)
		return pg_fail(ctx, ret, "port %u: rte_eth_link_get_nowait: %s", pi,
			       rte_strerror(-ret));
	return link.link_status == RTE_ETH_LINK_UP;
}

/* Frames the port dropped because our RX queue had no free descriptor or
 * mbuf: lost at the generator, not in the device under test. */
static uint64_t
pg_missed_now(uint16_t port_id)
{
	struct rte_eth_stats es;

	if (rte_eth_stats_get(port_id, &es) != 0)
		return 0;
	return es.imissed + es.rx_nombuf;
}

static uint64_t
pg_dpdk_rx_missed(struct pg_ctx *ctx, uint32_t pi)
{
	const struct pg_dpdk_port *p = &((struct pg_dpdk *)ctx->priv)->ports[pi];

	return pg_missed_now(p->port_id) - p->missed_base;
}

static void
pg_dpdk_begin_trial(struct pg_ctx *ctx)
{
	struct pg_dpdk *dp = ctx->priv;
	uint32_t i;

	for (i = 0; i < ctx->nb_ports; i++)
		dp->ports[i].missed_base = pg_missed_now(dp->ports[i].port_id);
}

static int
pg_dpdk_check_caller(struct pg_ctx *ctx)
{
	if (rte_lcore_id() == LCORE_ID_ANY)
		return pg_fail(ctx, -EPERM, "pg_run_trial must run on an EAL lcore thread");
	if (ctx->nb_loops > 1 && rte_lcore_id() != rte_get_main_lcore())
		return pg_fail(ctx, -EPERM, "pg_run_trial with %u loops must run on the main lcore "
			       "%u (it launches the others), not on lcore %u", ctx->nb_loops,
			       rte_get_main_lcore(), rte_lcore_id());
	return 0;
}

static int
pg_dpdk_launch(struct pg_ctx *ctx, uint32_t l, int (*fn)(void *), void *arg)
{
	const int ret = rte_eal_remote_launch(fn, arg, ctx->lc[l].lcore_id);

	return ret == 0 ? 0 : pg_fail(ctx, ret, "loop %u: rte_eal_remote_launch on lcore %u: %s", l,
				      ctx->lc[l].lcore_id, rte_strerror(-ret));
}

static void
pg_dpdk_join(struct pg_ctx *ctx, uint32_t l)
{
	rte_eal_wait_lcore(ctx->lc[l].lcore_id);
}

static void
pg_dpdk_describe(struct pg_ctx *ctx, char *buf, size_t len)
{
	snprintf(buf, len, "%s", rte_version());
}

const struct pg_backend pg_dpdk_backend = {
	.name = "dpdk",
	.io = &pg_dpdk_io,
	.zalloc = pg_dpdk_zalloc,
	.free = pg_dpdk_free,
	.check = pg_dpdk_check,
	.setup = pg_dpdk_setup,
	.teardown = pg_dpdk_teardown,
	.port_info = pg_dpdk_port_info,
	.link_up = pg_dpdk_link_up,
	.rx_missed = pg_dpdk_rx_missed,
	.begin_trial = pg_dpdk_begin_trial,
	.check_caller = pg_dpdk_check_caller,
	.launch = pg_dpdk_launch,
	.join = pg_dpdk_join,
	.describe = pg_dpdk_describe,
};
