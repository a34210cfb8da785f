/*
 * pktgen.c - DPDK backend of the pktlab generator: ports, pools and the one
 * poll loop that transmits and receives on the calling lcore.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <rte_branch_prediction.h>
#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_prefetch.h>
#include <rte_version.h>

#include "pktgen.h"
#include "pg_stream.h"

#define PG_POOL_CACHE 256	/* per-lcore mempool cache [mbufs] */
#define PG_RX_PREFETCH 4	/* frames prefetched ahead on receive */

/* One TX stream: its template, its pool (every mbuf holds the template) and
 * the per-packet state of pg_stream.h. */
struct pg_tx_stream {
	struct pg_txs txs;
	struct rte_mempool *pool;
	uint16_t port_id;
	uint16_t port_index;
	uint16_t nb_pending;	/* built and stamped, refused by a full TX queue */
	uint8_t *frame;		/* template copy, for the per-trial base sums */
	struct rte_mbuf *pending[PG_BURST_MAX];
};

/*
 * Everything the loop touches, on one lcore: configuration (and the stream
 * cursors, which only this lcore writes) first, then the counters on their
 * own cache lines. Python reads the counters (pg_read_stats), never packets.
 */
struct pg_lcore {
	volatile int stop;	/* set by pg_stop(), sticky */
	uint32_t nb_streams;
	uint32_t burst;
	uint32_t nb_rx;		/* ports polled for receive */
	uint16_t rx_port_id[PG_MAX_PORTS];
	uint32_t rx_port_index[PG_MAX_PORTS];
	struct pg_rx rx;
	struct pg_rxs rxs[PG_MAX_STREAMS];
	struct pg_tx_stream tx[PG_MAX_STREAMS];
	uint32_t nb_sched;	/* streams' turns, weighted (pg_sched_build) */
	uint8_t sched[PG_MAX_STREAMS * PG_WEIGHT_MAX];

	struct pg_stats stats __rte_cache_aligned;
} __rte_cache_aligned;

struct pg_port {
	uint16_t port_id;
	int started;
	struct rte_mempool *rx_pool;
};

struct pg_ctx {
	struct pg_lcore lc;	/* first, so it starts on a cache line */
	uint16_t trial_id;
	uint32_t nb_ports;
	struct pg_port ports[PG_MAX_PORTS];
	char err[PG_ERRMSG_LEN];
};

static char pg_global_err[PG_ERRMSG_LEN];
static unsigned int pg_instance;	/* makes pool names unique per process */


static int __rte_format_printf(3, 4)
pg_fail(struct pg_ctx *ctx, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ctx != NULL ? ctx->err : pg_global_err, PG_ERRMSG_LEN, fmt, ap);
	va_end(ap);
	return status < 0 ? status : -EINVAL;
}

int
pg_eal_init(int argc, char **argv)
{
	if (rte_eal_init(argc, argv) < 0)
		return pg_fail(NULL, -rte_errno, "rte_eal_init failed: %s (see the EAL log above)",
			       rte_strerror(rte_errno));
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

uint64_t
pg_tsc_hz(void)
{
	return rte_get_tsc_hz();
}

uint64_t
pg_rdtsc(void)
{
	return rte_rdtsc();
}

const char *
pg_errmsg(const struct pg_ctx *ctx)
{
	return ctx != NULL ? ctx->err : pg_global_err;
}

/* Copy the stream's template into every mbuf once, so the loop only patches
 * the varying fields. */
static void
pg_fill_mbuf(struct rte_mempool *mp __rte_unused, void *opaque, void *obj,
	     unsigned int idx __rte_unused)
{
	const struct pg_tx_stream *ts = opaque;
	struct rte_mbuf *m = obj;

	memcpy(rte_pktmbuf_mtod(m, uint8_t *), ts->frame, ts->txs.frame_len);
	m->data_len = (uint16_t)ts->txs.frame_len;
	m->pkt_len = ts->txs.frame_len;
}

static int
pg_socket(uint16_t port_id)
{
	int socket = rte_eth_dev_socket_id(port_id);

	return socket < 0 ? (int)rte_socket_id() : socket;
}

static int
pg_port_setup(struct pg_ctx *ctx, const struct pg_config *cfg, uint32_t pi)
{
	struct pg_port *port = &ctx->ports[pi];
	const char *name = cfg->port_names[pi];
	struct rte_eth_conf conf;
	struct rte_eth_dev_info info;
	uint16_t nb_rxd = (uint16_t)cfg->ring_size, nb_txd = (uint16_t)cfg->ring_size;
	uint32_t max_frame = 0, room, si;
	char pool_name[RTE_MEMPOOL_NAMESIZE];
	int ret;

	if (name == NULL || rte_eth_dev_get_port_by_name(name, &port->port_id) != 0) {
		char avail[256] = "";
		uint16_t id;
		size_t n = 0;

		RTE_ETH_FOREACH_DEV(id) {
			char dev[RTE_ETH_NAME_MAX_LEN];

			if (rte_eth_dev_get_name_by_port(id, dev) == 0 && n < sizeof(avail))
				n += (size_t)snprintf(avail + n, sizeof(avail) - n, " %s", dev);
		}
		return pg_fail(NULL, -ENODEV, "port %u: no ethdev named '%s' (have:%s)", pi,
			       name ? name : "(null)", n ? avail : " none");
	}
	ret = rte_eth_dev_info_get(port->port_id, &info);
	if (ret != 0)
		return pg_fail(NULL, ret, "port %s: rte_eth_dev_info_get: %s", name,
			       rte_strerror(-ret));

	/* largest frame this port sends or receives sizes the MTU and RX mbufs */
	for (si = 0; si < cfg->nb_streams; si++) {
		const struct pg_stream_config *sc = &cfg->streams[si];

		if (sc->tx_port == pi || sc->rx_port == (int32_t)pi)
			max_frame = RTE_MAX(max_frame, sc->frame_len);
	}
	memset(&conf, 0, sizeof(conf));
	if (max_frame > RTE_ETHER_MAX_LEN - RTE_ETHER_CRC_LEN) {
		uint32_t mtu = max_frame - RTE_ETHER_HDR_LEN;

		if (mtu > info.max_mtu)
			return pg_fail(NULL, -EINVAL, "port %s: %u-byte frames need MTU %u, "
				       "device max is %u", name, max_frame, mtu, info.max_mtu);
		conf.rxmode.mtu = mtu;
	}
	/* room for the largest frame plus a tag a data path might push */
	room = RTE_MAX((uint32_t)RTE_MBUF_DEFAULT_DATAROOM, RTE_ALIGN_CEIL(max_frame + 8, 1024));
	snprintf(pool_name, sizeof(pool_name), "pg%u_rx%u", pg_instance, pi);
	port->rx_pool = rte_pktmbuf_pool_create(pool_name, cfg->nb_mbufs, PG_POOL_CACHE, 0,
						(uint16_t)(RTE_PKTMBUF_HEADROOM + room),
						pg_socket(port->port_id));
	if (port->rx_pool == NULL)
		return pg_fail(NULL, -rte_errno, "port %s: RX pool of %u x %u B: %s", name,
			       cfg->nb_mbufs, RTE_PKTMBUF_HEADROOM + room, rte_strerror(rte_errno));

	ret = rte_eth_dev_configure(port->port_id, 1, 1, &conf);
	if (ret != 0)
		return pg_fail(NULL, ret, "port %s: rte_eth_dev_configure: %s", name,
			       rte_strerror(-ret));
	ret = rte_eth_dev_adjust_nb_rx_tx_desc(port->port_id, &nb_rxd, &nb_txd);
	if (ret != 0)
		return pg_fail(NULL, ret, "port %s: adjust descriptors %u: %s", name,
			       cfg->ring_size, rte_strerror(-ret));
	ret = rte_eth_rx_queue_setup(port->port_id, 0, nb_rxd, pg_socket(port->port_id), NULL,
				     port->rx_pool);
	if (ret != 0)
		return pg_fail(NULL, ret, "port %s: RX queue of %u: %s", name, nb_rxd,
			       rte_strerror(-ret));
	ret = rte_eth_tx_queue_setup(port->port_id, 0, nb_txd, pg_socket(port->port_id), NULL);
	if (ret != 0)
		return pg_fail(NULL, ret, "port %s: TX queue of %u: %s", name, nb_txd,
			       rte_strerror(-ret));
	ret = rte_eth_dev_start(port->port_id);
	if (ret != 0)
		return pg_fail(NULL, ret, "port %s: rte_eth_dev_start: %s", name,
			       rte_strerror(-ret));
	port->started = 1;
	/* the far end may rewrite MACs; we want every frame */
	ret = rte_eth_promiscuous_enable(port->port_id);
	if (ret != 0 && ret != -ENOTSUP)
		return pg_fail(NULL, ret, "port %s: promiscuous mode: %s", name,
			       rte_strerror(-ret));
	return 0;
}

static int
pg_stream_setup(struct pg_ctx *ctx, const struct pg_config *cfg, uint32_t si)
{
	const struct pg_stream_config *sc = &cfg->streams[si];
	struct pg_tx_stream *ts = &ctx->lc.tx[si];
	struct pg_rxs *rs = &ctx->lc.rxs[si];
	char pool_name[RTE_MEMPOOL_NAMESIZE];
	uint16_t room;

	ts->port_index = (uint16_t)sc->tx_port;
	ts->port_id = ctx->ports[sc->tx_port].port_id;
	ts->frame = rte_malloc(NULL, sc->frame_len, 0);
	if (ts->frame == NULL)
		return pg_fail(NULL, -ENOMEM, "stream %u: no memory for the template", si);
	memcpy(ts->frame, sc->frame, sc->frame_len);

	room = (uint16_t)(RTE_PKTMBUF_HEADROOM + RTE_ALIGN_CEIL(sc->frame_len, RTE_CACHE_LINE_SIZE));
	snprintf(pool_name, sizeof(pool_name), "pg%u_tx%u", pg_instance, si);
	ts->pool = rte_pktmbuf_pool_create(pool_name, cfg->nb_mbufs, PG_POOL_CACHE, 0, room,
					   pg_socket(ts->port_id));
	if (ts->pool == NULL)
		return pg_fail(NULL, -rte_errno, "stream %u: TX pool of %u x %u B: %s", si,
			       cfg->nb_mbufs, room, rte_strerror(rte_errno));
	rte_mempool_obj_iter(ts->pool, pg_fill_mbuf, ts);

	rs->rx_port = sc->rx_port;
	if (sc->rx_port >= 0) {
		rs->seen = rte_zmalloc(NULL, PG_SEEN_BITS / 8, RTE_CACHE_LINE_SIZE);
		if (rs->seen == NULL)
			return pg_fail(NULL, -ENOMEM, "stream %u: no memory for the %u-bit window",
				       si, PG_SEEN_BITS);
	}
	return 0;
}

static int
pg_check_config(const struct pg_config *cfg)
{
	uint32_t i;

	if (cfg->nb_ports < 1 || cfg->nb_ports > PG_MAX_PORTS)
		return pg_fail(NULL, -EINVAL, "nb_ports %u out of 1..%u", cfg->nb_ports,
			       PG_MAX_PORTS);
	if (cfg->nb_streams < 1 || cfg->nb_streams > PG_MAX_STREAMS)
		return pg_fail(NULL, -EINVAL, "nb_streams %u out of 1..%u", cfg->nb_streams,
			       PG_MAX_STREAMS);
	if (cfg->burst < 1 || cfg->burst > PG_BURST_MAX)
		return pg_fail(NULL, -EINVAL, "burst %u out of 1..%u", cfg->burst, PG_BURST_MAX);
	if (cfg->ring_size < 64 || cfg->ring_size > 32768)
		return pg_fail(NULL, -EINVAL, "ring_size %u out of 64..32768", cfg->ring_size);
	/* an RX ring full of mbufs, bursts in flight and the lcore cache */
	if (cfg->nb_mbufs < cfg->ring_size + 2 * PG_POOL_CACHE + PG_BURST_MAX)
		return pg_fail(NULL, -EINVAL, "nb_mbufs %u < ring_size %u + %u", cfg->nb_mbufs,
			       cfg->ring_size, 2 * PG_POOL_CACHE + PG_BURST_MAX);
	for (i = 0; i < cfg->nb_streams; i++) {
		const struct pg_stream_config *sc = &cfg->streams[i];

		if (sc->tx_port >= cfg->nb_ports)
			return pg_fail(NULL, -EINVAL, "stream %u: tx_port %u >= nb_ports %u", i,
				       sc->tx_port, cfg->nb_ports);
		if (sc->rx_port < -1 || sc->rx_port >= (int32_t)cfg->nb_ports)
			return pg_fail(NULL, -EINVAL, "stream %u: rx_port %d out of -1..%u", i,
				       sc->rx_port, cfg->nb_ports - 1);
	}
	return 0;
}

int
pg_create(const struct pg_config *cfg, struct pg_ctx **ctxp)
{
	struct pg_ctx *ctx;
	uint32_t i, j;
	int ret;

	*ctxp = NULL;
	pg_global_err[0] = '\0';
	ret = pg_check_config(cfg);
	if (ret != 0)
		return ret;

	ctx = rte_zmalloc("pg_ctx", sizeof(*ctx), RTE_CACHE_LINE_SIZE);
	if (ctx == NULL)
		return pg_fail(NULL, -ENOMEM, "no memory for the context (%zu B)", sizeof(*ctx));
	pg_instance++;
	ctx->nb_ports = cfg->nb_ports;
	ctx->lc.nb_streams = cfg->nb_streams;
	ctx->lc.nb_sched = pg_sched_build(cfg->streams, cfg->nb_streams, ctx->lc.sched);
	ctx->lc.burst = cfg->burst;

	/* templates first: a bad one fails before any port is touched */
	for (i = 0; i < cfg->nb_streams; i++) {
		const struct pg_stream_config *sc = &cfg->streams[i];
		char why[PG_ERRMSG_LEN - 32];

		ret = pg_txs_prepare(&ctx->lc.tx[i].txs, sc->frame, sc->frame_len, sc->nb_flows,
				     sc->vary, why, sizeof(why));
		if (ret != 0) {
			pg_fail(NULL, ret, "stream %u: %s", i, why);
			goto fail;
		}
	}
	for (i = 0; i < cfg->nb_ports; i++) {
		ret = pg_port_setup(ctx, cfg, i);
		if (ret != 0)
			goto fail;
	}
	for (i = 0; i < cfg->nb_streams; i++) {
		ret = pg_stream_setup(ctx, cfg, i);
		if (ret != 0)
			goto fail;
	}
	/* poll only ports some stream expects frames on */
	for (i = 0; i < cfg->nb_ports; i++) {
		for (j = 0; j < cfg->nb_streams; j++) {
			if (cfg->streams[j].rx_port == (int32_t)i) {
				ctx->lc.rx_port_id[ctx->lc.nb_rx] = ctx->ports[i].port_id;
				ctx->lc.rx_port_index[ctx->lc.nb_rx++] = i;
				break;
			}
		}
	}
	ctx->lc.rx.nb_streams = cfg->nb_streams;
	ctx->lc.rx.rxs = ctx->lc.rxs;
	ctx->lc.rx.stats = &ctx->lc.stats;
	pg_begin_trial(ctx);
	*ctxp = ctx;
	return 0;
fail:
	pg_destroy(ctx);
	return ret;
}

void
pg_destroy(struct pg_ctx *ctx)
{
	uint32_t i;

	if (ctx == NULL)
		return;
	pg_sig_release(&ctx->lc.stop);
	/* ports first: they hold mbufs of the pools freed below */
	for (i = 0; i < ctx->nb_ports; i++) {
		if (ctx->ports[i].started) {
			rte_eth_dev_stop(ctx->ports[i].port_id);
			rte_eth_dev_close(ctx->ports[i].port_id);
		}
	}
	for (i = 0; i < PG_MAX_STREAMS; i++) {
		rte_mempool_free(ctx->lc.tx[i].pool);
		rte_free(ctx->lc.tx[i].frame);
		rte_free(ctx->lc.rxs[i].seen);
	}
	for (i = 0; i < ctx->nb_ports; i++)
		rte_mempool_free(ctx->ports[i].rx_pool);
	rte_free(ctx);
}

int
pg_port_info(struct pg_ctx *ctx, uint32_t pi, uint16_t *port_id, uint8_t *mac)
{
	struct rte_ether_addr addr;
	int ret;

	if (pi >= ctx->nb_ports)
		return pg_fail(ctx, -EINVAL, "port index %u >= %u", pi, ctx->nb_ports);
	*port_id = ctx->ports[pi].port_id;
	ret = rte_eth_macaddr_get(ctx->ports[pi].port_id, &addr);
	if (ret != 0)
		return pg_fail(ctx, ret, "port %u: rte_eth_macaddr_get: %s", pi, rte_strerror(-ret));
	memcpy(mac, addr.addr_bytes, RTE_ETHER_ADDR_LEN);
	return 0;
}

int
pg_link_up(struct pg_ctx *ctx, uint32_t pi)
{
	struct rte_eth_link link;
	int ret;

	if (pi >= ctx->nb_ports)
		return pg_fail(ctx, -EINVAL, "port index %u >= %u", pi, ctx->nb_ports);
	ret = rte_eth_link_get_nowait(ctx->ports[pi].port_id, &link);
	if (ret != 0)
		return pg_fail(ctx, ret, "port %u: rte_eth_link_get_nowait: %s", pi,
			       rte_strerror(-ret));
	return link.link_status == RTE_ETH_LINK_UP;
}

int
pg_begin_trial(struct pg_ctx *ctx)
{
	struct pg_lcore *lc = &ctx->lc;
	struct pg_stats *st = &lc->stats;
	uint32_t i;

	ctx->trial_id++;
	memset(st, 0, sizeof(*st));
	st->tsc_hz = rte_get_tsc_hz();
	st->trial_id = ctx->trial_id;
	st->nb_streams = lc->nb_streams;
	st->nb_ports = ctx->nb_ports;
	st->lat_min = UINT64_MAX;
	lc->rx.sig = PG_MAGIC | (uint32_t)ctx->trial_id << 16;
	for (i = 0; i < lc->nb_streams; i++) {
		pg_txs_begin(&lc->tx[i].txs, lc->tx[i].frame, (uint16_t)i, ctx->trial_id);
		lc->rxs[i].started = 0;
		lc->rxs[i].max_seq = 0;
		if (lc->rxs[i].seen != NULL)
			memset(lc->rxs[i].seen, 0, PG_SEEN_BITS / 8);
	}
	return ctx->trial_id;
}

int
pg_account_frame(struct pg_ctx *ctx, uint32_t pi, const uint8_t *frame, uint32_t len,
		 uint64_t now_tsc)
{
	if (pi >= ctx->nb_ports)
		return pg_fail(ctx, -EINVAL, "port index %u >= %u", pi, ctx->nb_ports);
	return pg_rx_account(&ctx->lc.rx, pi, frame, len, now_tsc);
}

/* Build and send up to n frames of one stream; returns how many were built.
 *
 * A full TX queue is back-pressure, often for a moment only (a vhost-user
 * peer's poller was descheduled): refused frames are kept, in order, and
 * offered again before anything new is built. A paced trial so keeps its
 * rate through short stalls; a longer one shows as an achieved rate below
 * the intended load (generator-limited), not as frames the DUT lost. */
static inline uint32_t
pg_tx_burst(struct pg_tx_stream *ts, struct pg_stream_stats *st, uint32_t n, uint64_t now)
{
	struct rte_mbuf *pkts[PG_BURST_MAX];
	uint8_t *frames[PG_BURST_MAX];
	const uint32_t len = ts->txs.frame_len;
	uint32_t i;
	uint16_t sent;

	if (unlikely(ts->nb_pending != 0)) {
		sent = rte_eth_tx_burst(ts->port_id, 0, ts->pending, ts->nb_pending);
		st->tx += sent;
		ts->nb_pending -= sent;
		if (ts->nb_pending != 0) {
			memmove(ts->pending, &ts->pending[sent], ts->nb_pending * sizeof(ts->pending[0]));
			return 0;
		}
	}
	if (unlikely(rte_pktmbuf_alloc_bulk(ts->pool, pkts, n) != 0)) {
		st->tx_nombuf++;
		return 0;
	}
	for (i = 0; i < n; i++) {
		pkts[i]->data_len = (uint16_t)len;
		pkts[i]->pkt_len = len;
		frames[i] = rte_pktmbuf_mtod(pkts[i], uint8_t *);
	}
	pg_txs_stamp(&ts->txs, frames, n, now);
	sent = rte_eth_tx_burst(ts->port_id, 0, pkts, (uint16_t)n);
	st->tx += sent;
	if (unlikely(sent < n)) {
		ts->nb_pending = (uint16_t)(n - sent);
		memcpy(ts->pending, &pkts[sent], ts->nb_pending * sizeof(pkts[0]));
	}
	return n;
}

/* At the end of a trial: what is still refused was never on the wire. */
static void
pg_tx_drop_pending(struct pg_lcore *lc)
{
	uint32_t i;

	for (i = 0; i < lc->nb_streams; i++) {
		struct pg_tx_stream *ts = &lc->tx[i];

		if (ts->nb_pending == 0)
			continue;
		lc->stats.streams[i].tx_dropped += ts->nb_pending;
		rte_pktmbuf_free_bulk(ts->pending, ts->nb_pending);
		ts->nb_pending = 0;
	}
}

/* Receive one burst (up to PG_BURST_MAX, whatever the TX burst) on the r-th
 * polled port; returns frames received. */
static inline uint16_t
pg_rx_burst(struct pg_lcore *lc, uint32_t r)
{
	struct rte_mbuf *pkts[PG_BURST_MAX];
	const uint32_t pi = lc->rx_port_index[r];
	uint64_t now;
	uint16_t nb, i;

	nb = rte_eth_rx_burst(lc->rx_port_id[r], 0, pkts, PG_BURST_MAX);
	if (nb == 0)
		return 0;
	now = rte_rdtsc();
	for (i = 0; i < nb && i < PG_RX_PREFETCH; i++)
		rte_prefetch0(rte_pktmbuf_mtod(pkts[i], void *));
	for (i = 0; i < nb; i++) {
		if (i + PG_RX_PREFETCH < nb)
			rte_prefetch0(rte_pktmbuf_mtod(pkts[i + PG_RX_PREFETCH], void *));
		pg_rx_account(&lc->rx, pi, rte_pktmbuf_mtod(pkts[i], const uint8_t *),
			      pkts[i]->data_len, now);
	}
	rte_pktmbuf_free_bulk(pkts, nb);
	return nb;
}

/* Every stream that expects frames back has them all. */
static int
pg_all_received(const struct pg_lcore *lc)
{
	uint32_t i;

	for (i = 0; i < lc->nb_streams; i++)
		if (lc->rxs[i].rx_port >= 0 &&
		    lc->stats.streams[i].unique < lc->stats.streams[i].tx)
			return 0;
	return 1;
}

int
pg_run_trial(struct pg_ctx *ctx, const struct pg_trial *trial)
{
	struct pg_lcore *lc = &ctx->lc;
	const uint64_t hz = rte_get_tsc_hz();
	const unsigned __int128 den = (unsigned __int128)hz << 16;
	uint64_t rate_fp, window, tx_cycles, drain_cycles, start, now, end, catch_up, built = 0;
	uint32_t nb_streams, burst, nb_rx, s = 0, r;

	if (!(trial->duration_s > 0 && trial->duration_s < 1e6) ||
	    !(trial->drain_s >= 0 && trial->drain_s < 1e6) ||
	    !(trial->rate_pps >= 0 && trial->rate_pps < 1e12))
		return pg_fail(ctx, -EINVAL, "trial: duration %g s, drain %g s, rate %g pps out of "
			       "range", trial->duration_s, trial->drain_s, trial->rate_pps);
	if (rte_lcore_id() == LCORE_ID_ANY)
		return pg_fail(ctx, -EPERM, "pg_run_trial must run on an EAL lcore thread");

	pg_begin_trial(ctx);
	/* deadlines and the rate in TSC terms before the loop; the rate is
	 * 48.16 fixed point so fractional pps are honoured */
	rate_fp = (uint64_t)(trial->rate_pps * 65536.0 + 0.5);
	/* what a paced window sends: rate x duration; truncating the window to
	 * whole TSC cycles would otherwise lose its last frame */
	window = (uint64_t)(trial->rate_pps * trial->duration_s + 0.5);
	tx_cycles = (uint64_t)(trial->duration_s * (double)hz);
	drain_cycles = (uint64_t)(trial->drain_s * (double)hz);
	nb_streams = lc->nb_streams;
	burst = lc->burst;
	nb_rx = lc->nb_rx;

	start = rte_rdtsc();
	end = start + tx_cycles;
	catch_up = end + hz / 100;
	now = start;
	while (likely(!lc->stop)) {
		uint64_t t;
		uint32_t n = burst;

		now = rte_rdtsc();
		t = now;
		if (unlikely(now >= end)) {
			/* paced: still send what the window allowed (we may have
			 * been preempted just before its end), for 10 ms at most */
			if (rate_fp == 0 || now >= catch_up)
				break;
			t = end;
		}
		if (rate_fp != 0) {
			/* paced from the start of the window, so no drift: what
			 * the rate allows by now, less what was built, capped */
			const uint64_t allowed = t == end ? window :
				(uint64_t)((unsigned __int128)(t - start) * rate_fp / den);

			if (unlikely(t == end && allowed <= built)) {
				now = end;	/* the window's frames are all out */
				break;
			}
			n = allowed > built ? (uint32_t)RTE_MIN(allowed - built, (uint64_t)burst) : 0;
		}
		if (n != 0) {
			const uint32_t si = lc->sched[s];

			built += pg_tx_burst(&lc->tx[si], &lc->stats.streams[si], n, now);
			if (++s == lc->nb_sched)
				s = 0;
		}
		for (r = 0; r < nb_rx; r++)
			pg_rx_burst(lc, r);
	}
	lc->stats.tx_cycles = now - start;
	pg_tx_drop_pending(lc);
	now = rte_rdtsc();

	/* keep receiving so frames in flight are counted, not lost */
	start = now;
	end = now + drain_cycles;
	while (nb_rx != 0 && !lc->stop && now < end) {
		uint32_t got = 0;

		for (r = 0; r < nb_rx; r++)
			got += pg_rx_burst(lc, r);
		if (got == 0 && pg_all_received(lc))
			break;
		now = rte_rdtsc();
	}
	lc->stats.drain_cycles = now - start;
	lc->stats.interrupted = lc->stop != 0;
	return 0;
}

void
pg_stop(struct pg_ctx *ctx)
{
	ctx->lc.stop = 1;
}

int
pg_read_stats(struct pg_ctx *ctx, struct pg_stats *out)
{
	uint32_t i;

	memcpy(out, &ctx->lc.stats, sizeof(*out));
	for (i = 0; i < ctx->lc.nb_streams; i++)
		out->ports[ctx->lc.tx[i].port_index].tx += out->streams[i].tx;
	return 0;
}

int
pg_catch_signals(struct pg_ctx *ctx, int wake_fd)
{
	const int ret = pg_sig_catch(&ctx->lc.stop, wake_fd);

	return ret == 0 ? 0 : pg_fail(ctx, ret, "sigaction: %s", strerror(-ret));
}

int
pg_signal_caught(void)
{
	return pg_sig_caught_signo();
}
