/*
 * pktgen.c - DPDK backend of the pktlab generator: ports, pools and the poll
 * loops, one per lcore, each on its own queue of every port.
 *
 * Loop i sends flows f % N == i of every stream (a sub-stream: its own
 * sequence space, stamp stream id stream * N + i) on queue i and receives
 * queue i of every port. A flow hashes to one RX queue, so a loop sees each
 * sub-stream's frames on it in order and keeps its own windows, counters and
 * histogram; nothing on the hot path is shared or atomic. pg_read_stats adds
 * the loops up.
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
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_pause.h>
#include <rte_prefetch.h>
#include <rte_version.h>

#include "pktgen.h"
#include "pg_stream.h"

#define PG_POOL_CACHE 256	/* per-lcore mempool cache [mbufs] */
#define PG_RX_PREFETCH 4	/* frames prefetched ahead on receive */

/* pg_run_trial could not launch every loop: the launched ones return at once. */
#define PG_START_ABORT UINT64_MAX

/* One loop's share of a TX stream: its pool (every mbuf holds the template)
 * and the per-packet state of pg_stream.h, for this loop's flows. */
struct pg_tx_stream {
	struct pg_txs txs;	/* txs.stream_id is the sub-stream: index into sst[] */
	struct rte_mempool *pool;
	const uint8_t *frame;	/* the stream's template, for the per-trial base sums */
	uint16_t port_id;
	uint16_t port_index;
	uint16_t nb_pending;	/* built and stamped, refused by a full TX queue */
	struct rte_mbuf *pending[PG_BURST_MAX];
};

struct pg_ctx;

/*
 * Everything one loop touches, on its lcore: configuration (and the stream
 * cursors and this trial's share, which only this loop writes once running)
 * first, then the counters on their own cache lines. Python reads the
 * counters (pg_read_stats), never packets.
 */
struct pg_lcore {
	struct pg_ctx *ctx;
	volatile int *stop;	/* &ctx->stop: one flag stops every loop */
	uint32_t loop;		/* index among the loops */
	uint32_t lcore_id;	/* EAL lcore it is launched on (loops 1..N-1) */
	uint32_t nb_loops;
	uint32_t nb_streams;	/* configured streams; sub-streams are nb_streams * nb_loops */
	uint32_t burst;
	uint32_t nb_rx;		/* ports polled for receive */
	uint16_t queue_id;	/* RX and TX queue on every port: the loop index */
	uint16_t rx_port_id[PG_MAX_PORTS];
	uint32_t rx_port_index[PG_MAX_PORTS];
	/* this trial's share, set before the loops start */
	uint64_t rate_fp;	/* [pps] 48.16 fixed point, 0: as fast as possible */
	uint64_t window;	/* frames the paced window sends */
	uint64_t tx_cycles;
	uint64_t drain_cycles;
	struct pg_rx rx;
	struct pg_rxs rxs[PG_MAX_SUBSTREAMS];	/* by sub-stream */
	struct pg_tx_stream tx[PG_MAX_STREAMS];	/* by configured stream */
	uint32_t nb_sched;	/* streams' turns, weighted (pg_sched_build) */
	uint8_t sched[PG_MAX_STREAMS * PG_WEIGHT_MAX];

	/* written by this loop only; others read them in the drain */
	struct pg_stream_stats sst[PG_MAX_SUBSTREAMS] __rte_cache_aligned;	/* by sub-stream */
	struct pg_stats stats __rte_cache_aligned;	/* ports, latency, times; streams[] unused */
	uint32_t tx_done;	/* window over, tx counts final (release store) */
} __rte_cache_aligned;

struct pg_port {
	uint16_t port_id;
	int started;
	uint64_t missed_base;	/* imissed + rx_nombuf when the trial began */
	struct rte_mempool *rx_pool[PG_MAX_LCORES];	/* one per RX queue: per loop */
};

struct pg_ctx {
	struct pg_lcore lc[PG_MAX_LCORES];	/* first, so each starts on a cache line */
	/* read by every loop all the time, written once to stop them: alone */
	volatile int stop __rte_cache_aligned;	/* pg_stop() or a signal; sticky */
	/* trial start: the loops spin until start_tsc is set */
	uint32_t nb_ready __rte_cache_aligned;	/* loops 1..N-1 launched and waiting */
	uint64_t start_tsc;	/* 0: not yet; PG_START_ABORT */
	uint16_t trial_id;
	uint32_t nb_ports;
	uint32_t nb_loops;
	uint32_t nb_streams;
	struct pg_port ports[PG_MAX_PORTS];
	uint8_t *frames[PG_MAX_STREAMS];	/* template copies */
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
	const uint16_t nb_q = (uint16_t)ctx->nb_loops;
	struct rte_eth_conf conf;
	struct rte_eth_dev_info info;
	uint16_t nb_rxd = (uint16_t)cfg->ring_size, nb_txd = (uint16_t)cfg->ring_size, q;
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
	if (info.max_rx_queues < nb_q || info.max_tx_queues < nb_q)
		return pg_fail(NULL, -EINVAL, "port %s: %u loops need %u RX and %u TX queues, the "
			       "device offers %u RX and %u TX", name, nb_q, nb_q, nb_q,
			       info.max_rx_queues, info.max_tx_queues);

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
	if (nb_q > 1) {
		/* spread flows over the loops' queues by whatever of the IP and
		 * UDP hashes the device has; one without RSS (net_ring) needs
		 * none: its TX queue i is its RX queue i */
		conf.rx_adv_conf.rss_conf.rss_hf = (RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP) &
						   info.flow_type_rss_offloads;
		if (conf.rx_adv_conf.rss_conf.rss_hf != 0)
			conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
	}
	/* room for the largest frame plus a tag a data path might push */
	room = RTE_MAX((uint32_t)RTE_MBUF_DEFAULT_DATAROOM, RTE_ALIGN_CEIL(max_frame + 8, 1024));
	for (q = 0; q < nb_q; q++) {
		snprintf(pool_name, sizeof(pool_name), "pg%u_rx%u_%u", pg_instance, pi, q);
		port->rx_pool[q] = rte_pktmbuf_pool_create(pool_name, cfg->nb_mbufs, PG_POOL_CACHE, 0,
							   (uint16_t)(RTE_PKTMBUF_HEADROOM + room),
							   pg_socket(port->port_id));
		if (port->rx_pool[q] == NULL)
			return pg_fail(NULL, -rte_errno, "port %s: RX pool %u of %u x %u B: %s", name,
				       q, cfg->nb_mbufs, RTE_PKTMBUF_HEADROOM + room,
				       rte_strerror(rte_errno));
	}

	ret = rte_eth_dev_configure(port->port_id, nb_q, nb_q, &conf);
	if (ret != 0)
		return pg_fail(NULL, ret, "port %s: rte_eth_dev_configure: %s", name,
			       rte_strerror(-ret));
	ret = rte_eth_dev_adjust_nb_rx_tx_desc(port->port_id, &nb_rxd, &nb_txd);
	if (ret != 0)
		return pg_fail(NULL, ret, "port %s: adjust descriptors %u: %s", name,
			       cfg->ring_size, rte_strerror(-ret));
	for (q = 0; q < nb_q; q++) {
		ret = rte_eth_rx_queue_setup(port->port_id, q, nb_rxd, pg_socket(port->port_id),
					     NULL, port->rx_pool[q]);
		if (ret != 0)
			return pg_fail(NULL, ret, "port %s: RX queue %u of %u: %s", name, q, nb_rxd,
				       rte_strerror(-ret));
		ret = rte_eth_tx_queue_setup(port->port_id, q, nb_txd, pg_socket(port->port_id),
					     NULL);
		if (ret != 0)
			return pg_fail(NULL, ret, "port %s: TX queue %u of %u: %s", name, q, nb_txd,
				       rte_strerror(-ret));
	}
	ret = rte_eth_dev_start(port->port_id);
	if (ret != 0)
		return pg_fail(NULL, ret, "port %s: rte_eth_dev_start: %s", name,
			       rte_strerror(-ret));
	port->started = 1;
	/* The far end may rewrite MACs; we want every frame. An SR-IOV VF that is
	 * not trusted is refused promiscuous mode by its PF: it still receives
	 * frames sent to its own MAC, which is how the VF-to-VF path addresses them. */
	ret = rte_eth_promiscuous_enable(port->port_id);
	if (ret != 0 && ret != -ENOTSUP)
		fprintf(stderr, "pktgen: port %s: promiscuous mode refused (%s): "
			"only frames to its own MAC are received\n", name, rte_strerror(-ret));
	return 0;
}

/* Stream si on every loop: the loop's share of its flows (from the template
 * prepared in ctx->lc[0]), a TX pool per loop, and in every loop a receive
 * window for each of its sub-streams (any of them may hash to any queue). */
static int
pg_stream_setup(struct pg_ctx *ctx, const struct pg_config *cfg, uint32_t si)
{
	const struct pg_stream_config *sc = &cfg->streams[si];
	const struct pg_txs base = ctx->lc[0].tx[si].txs;
	const uint32_t nb_loops = ctx->nb_loops;
	char pool_name[RTE_MEMPOOL_NAMESIZE];
	uint32_t l, j;
	uint16_t room;

	ctx->frames[si] = rte_malloc(NULL, sc->frame_len, 0);
	if (ctx->frames[si] == NULL)
		return pg_fail(NULL, -ENOMEM, "stream %u: no memory for the template", si);
	memcpy(ctx->frames[si], sc->frame, sc->frame_len);
	room = (uint16_t)(RTE_PKTMBUF_HEADROOM + RTE_ALIGN_CEIL(sc->frame_len, RTE_CACHE_LINE_SIZE));

	for (l = 0; l < nb_loops; l++) {
		struct pg_lcore *lc = &ctx->lc[l];
		struct pg_tx_stream *ts = &lc->tx[si];

		ts->txs = base;
		if (nb_loops > 1)
			pg_txs_partition(&ts->txs, l, nb_loops);
		ts->port_index = (uint16_t)sc->tx_port;
		ts->port_id = ctx->ports[sc->tx_port].port_id;
		ts->frame = ctx->frames[si];
		snprintf(pool_name, sizeof(pool_name), "pg%u_tx%u_%u", pg_instance, si, l);
		ts->pool = rte_pktmbuf_pool_create(pool_name, cfg->nb_mbufs, PG_POOL_CACHE, 0, room,
						   pg_socket(ts->port_id));
		if (ts->pool == NULL)
			return pg_fail(NULL, -rte_errno, "stream %u: TX pool %u of %u x %u B: %s", si,
				       l, cfg->nb_mbufs, room, rte_strerror(rte_errno));
		rte_mempool_obj_iter(ts->pool, pg_fill_mbuf, ts);

		for (j = 0; j < nb_loops; j++) {
			struct pg_rxs *rs = &lc->rxs[si * nb_loops + j];

			rs->rx_port = sc->rx_port;
			if (sc->rx_port < 0)
				continue;
			rs->seen = rte_zmalloc(NULL, PG_SEEN_BITS / 8, RTE_CACHE_LINE_SIZE);
			if (rs->seen == NULL)
				return pg_fail(NULL, -ENOMEM, "stream %u: no memory for the %u-bit "
					       "window of loop %u", si, PG_SEEN_BITS, l);
		}
	}
	return 0;
}

static int
pg_check_config(const struct pg_config *cfg)
{
	const uint32_t nb_loops = cfg->nb_lcores ? cfg->nb_lcores : 1;
	char why[PG_ERRMSG_LEN];
	uint32_t i, j;

	if (pg_config_check(cfg, why, sizeof(why)) != 0)
		return pg_fail(NULL, -EINVAL, "%s", why);
	/* an RX ring full of mbufs, bursts in flight and the lcore cache. Per
	 * pool, whatever the number of loops: each pool has one loop (its RX
	 * queue, or its share of a stream), which allocates and frees its
	 * mbufs, so no loop's cache or ring can starve another's pool. Memory
	 * so grows with the loops: (ports + streams) x loops pools. */
	if (cfg->nb_mbufs < cfg->ring_size + 2 * PG_POOL_CACHE + PG_BURST_MAX)
		return pg_fail(NULL, -EINVAL, "nb_mbufs %u < ring_size %u + %u", cfg->nb_mbufs,
			       cfg->ring_size, 2 * PG_POOL_CACHE + PG_BURST_MAX);
	if (cfg->nb_lcores > PG_MAX_LCORES)
		return pg_fail(NULL, -EINVAL, "nb_lcores %u out of 0..%u", cfg->nb_lcores,
			       PG_MAX_LCORES);
	for (i = 0; i < cfg->nb_lcores; i++)
		for (j = 0; j < i; j++)
			if (cfg->lcores[i] == cfg->lcores[j])
				return pg_fail(NULL, -EINVAL, "lcores[%u] and lcores[%u] are both %u",
					       j, i, cfg->lcores[i]);
	for (i = 0; i < cfg->nb_streams; i++) {
		const struct pg_stream_config *sc = &cfg->streams[i];

		if (sc->nb_flows < nb_loops)
			return pg_fail(NULL, -EINVAL, "stream %u: %u flows for %u loops: each flow is "
				       "sent by one loop, so each loop needs one", i, sc->nb_flows,
				       nb_loops);
	}
	return 0;
}

/* The loops' lcores against the running EAL: loop 0 is the main lcore (it
 * launches the others), the others are enabled worker lcores. One loop runs
 * on whichever lcore calls pg_run_trial, as it always did. */
static int
pg_check_lcores(const struct pg_config *cfg)
{
	const unsigned int main_lcore = rte_get_main_lcore();
	uint32_t i;

	if (cfg->nb_lcores <= 1)
		return 0;
	if (cfg->lcores[0] != main_lcore)
		return pg_fail(NULL, -EINVAL, "lcores[0] is %u, but loop 0 runs on the EAL main "
			       "lcore, %u (put it first in -l, or pass --main-lcore)", cfg->lcores[0],
			       main_lcore);
	for (i = 1; i < cfg->nb_lcores; i++)
		if (!rte_lcore_is_enabled(cfg->lcores[i]))
			return pg_fail(NULL, -EINVAL, "lcores[%u]: lcore %u is not one EAL runs (%u "
				       "enabled): name every loop's lcore in -l", i, cfg->lcores[i],
				       rte_lcore_count());
	return 0;
}

int
pg_create(const struct pg_config *cfg, struct pg_ctx **ctxp)
{
	struct pg_ctx *ctx;
	uint32_t i, j, l, nb_rx = 0;
	uint32_t rx_index[PG_MAX_PORTS];
	int ret;

	*ctxp = NULL;
	pg_global_err[0] = '\0';
	ret = pg_check_config(cfg);
	if (ret == 0)
		ret = pg_check_lcores(cfg);
	if (ret != 0)
		return ret;

	ctx = rte_zmalloc("pg_ctx", sizeof(*ctx), RTE_CACHE_LINE_SIZE);
	if (ctx == NULL)
		return pg_fail(NULL, -ENOMEM, "no memory for the context (%zu B)", sizeof(*ctx));
	pg_instance++;
	ctx->nb_ports = cfg->nb_ports;
	ctx->nb_loops = cfg->nb_lcores ? cfg->nb_lcores : 1;
	ctx->nb_streams = cfg->nb_streams;

	/* templates first: a bad one fails before any port is touched */
	for (i = 0; i < cfg->nb_streams; i++) {
		const struct pg_stream_config *sc = &cfg->streams[i];
		char why[PG_ERRMSG_LEN - 32];

		ret = pg_txs_prepare(&ctx->lc[0].tx[i].txs, sc->frame, sc->frame_len, sc->nb_flows,
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
				rx_index[nb_rx++] = i;
				break;
			}
		}
	}
	for (l = 0; l < ctx->nb_loops; l++) {
		struct pg_lcore *lc = &ctx->lc[l];

		lc->ctx = ctx;
		lc->stop = &ctx->stop;
		lc->loop = l;
		lc->lcore_id = cfg->nb_lcores > 1 ? cfg->lcores[l] : rte_get_main_lcore();
		lc->nb_loops = ctx->nb_loops;
		lc->nb_streams = cfg->nb_streams;
		lc->burst = cfg->burst;
		lc->queue_id = (uint16_t)l;
		lc->nb_sched = pg_sched_build(cfg->streams, cfg->nb_streams, lc->sched);
		lc->nb_rx = nb_rx;
		for (i = 0; i < nb_rx; i++) {
			lc->rx_port_index[i] = rx_index[i];
			lc->rx_port_id[i] = ctx->ports[rx_index[i]].port_id;
		}
		lc->rx.nb_streams = cfg->nb_streams * ctx->nb_loops;
		lc->rx.rxs = lc->rxs;
		lc->rx.sst = lc->sst;
		lc->rx.stats = &lc->stats;
	}
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
	uint32_t i, l;

	if (ctx == NULL)
		return;
	pg_sig_release(&ctx->stop);
	/* ports first: they hold mbufs of the pools freed below */
	for (i = 0; i < ctx->nb_ports; i++) {
		if (ctx->ports[i].started) {
			rte_eth_dev_stop(ctx->ports[i].port_id);
			rte_eth_dev_close(ctx->ports[i].port_id);
		}
	}
	for (l = 0; l < PG_MAX_LCORES; l++) {
		for (i = 0; i < PG_MAX_STREAMS; i++)
			rte_mempool_free(ctx->lc[l].tx[i].pool);
		for (i = 0; i < PG_MAX_SUBSTREAMS; i++)
			rte_free(ctx->lc[l].rxs[i].seen);
	}
	for (i = 0; i < PG_MAX_STREAMS; i++)
		rte_free(ctx->frames[i]);
	for (i = 0; i < ctx->nb_ports; i++)
		for (l = 0; l < PG_MAX_LCORES; l++)
			rte_mempool_free(ctx->ports[i].rx_pool[l]);
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

int
pg_port_rx_missed(struct pg_ctx *ctx, uint32_t pi, uint64_t *missed)
{
	if (pi >= ctx->nb_ports)
		return pg_fail(ctx, -EINVAL, "port index %u >= %u", pi, ctx->nb_ports);
	*missed = pg_missed_now(ctx->ports[pi].port_id) - ctx->ports[pi].missed_base;
	return 0;
}

int
pg_begin_trial(struct pg_ctx *ctx)
{
	const uint32_t nb_loops = ctx->nb_loops;
	uint32_t i, l;

	for (i = 0; i < ctx->nb_ports; i++)
		ctx->ports[i].missed_base = pg_missed_now(ctx->ports[i].port_id);
	ctx->trial_id++;
	for (l = 0; l < nb_loops; l++) {
		struct pg_lcore *lc = &ctx->lc[l];

		memset(&lc->stats, 0, sizeof(lc->stats));
		memset(lc->sst, 0, sizeof(lc->sst));
		lc->stats.lat_min = UINT64_MAX;
		lc->tx_done = 0;
		lc->rx.sig = PG_MAGIC | (uint32_t)ctx->trial_id << 16;
		for (i = 0; i < lc->nb_streams; i++)
			pg_txs_begin(&lc->tx[i].txs, lc->tx[i].frame, (uint16_t)(i * nb_loops + l),
				     ctx->trial_id);
		for (i = 0; i < lc->rx.nb_streams; i++) {
			lc->rxs[i].started = 0;
			lc->rxs[i].max_seq = 0;
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
	if (pi >= ctx->nb_ports)
		return pg_fail(ctx, -EINVAL, "port index %u >= %u", pi, ctx->nb_ports);
	return pg_rx_account(&ctx->lc[0].rx, pi, frame, len, now_tsc);
}

/* Build and send up to n frames of one stream on queue q; returns how many
 * were built.
 *
 * A full TX queue is back-pressure, often for a moment only (a vhost-user
 * peer's poller was descheduled): refused frames are kept, in order, and
 * offered again before anything new is built. A paced trial so keeps its
 * rate through short stalls; a longer one shows as an achieved rate below
 * the intended load (generator-limited), not as frames the DUT lost. */
static inline uint32_t
pg_tx_burst(struct pg_tx_stream *ts, uint16_t q, struct pg_stream_stats *st, uint32_t n,
	    uint64_t now)
{
	struct rte_mbuf *pkts[PG_BURST_MAX];
	uint8_t *frames[PG_BURST_MAX];
	const uint32_t len = ts->txs.frame_len;
	uint32_t i;
	uint16_t sent;

	if (unlikely(ts->nb_pending != 0)) {
		sent = rte_eth_tx_burst(ts->port_id, q, ts->pending, ts->nb_pending);
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
	sent = rte_eth_tx_burst(ts->port_id, q, pkts, (uint16_t)n);
	st->tx += sent;
	if (unlikely(sent < n)) {
		ts->nb_pending = (uint16_t)(n - sent);
		memcpy(ts->pending, &pkts[sent], ts->nb_pending * sizeof(pkts[0]));
	}
	return n;
}

/* At the end of a window: what is still refused was never on the wire. */
static void
pg_tx_drop_pending(struct pg_lcore *lc)
{
	uint32_t i;

	for (i = 0; i < lc->nb_streams; i++) {
		struct pg_tx_stream *ts = &lc->tx[i];

		if (ts->nb_pending == 0)
			continue;
		lc->sst[ts->txs.stream_id].tx_dropped += ts->nb_pending;
		rte_pktmbuf_free_bulk(ts->pending, ts->nb_pending);
		ts->nb_pending = 0;
	}
}

/* Receive one burst (up to PG_BURST_MAX, whatever the TX burst) on the
 * loop's queue of the r-th polled port; returns frames received. */
static inline uint16_t
pg_rx_burst(struct pg_lcore *lc, uint32_t r)
{
	struct rte_mbuf *pkts[PG_BURST_MAX];
	const uint32_t pi = lc->rx_port_index[r];
	uint64_t now;
	uint16_t nb, i;

	nb = rte_eth_rx_burst(lc->rx_port_id[r], lc->queue_id, pkts, PG_BURST_MAX);
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

/* One loop through one trial: its share of the window from the shared
 * start, then receive only until the drain is over or everything is back. */
static void
pg_loop(struct pg_lcore *lc, uint64_t start)
{
	const uint32_t nb_rx = lc->nb_rx;
	const uint16_t q = lc->queue_id;
	volatile int *const stop = lc->stop;
	struct pg_pace pace;
	uint64_t now, end;
	uint32_t s = 0, r, n;

	/* the others start from the same TSC: their windows coincide */
	while (rte_rdtsc() < start && !*stop)
		rte_pause();
	pg_pace_init(&pace, start, lc->tx_cycles, rte_get_tsc_hz(), lc->rate_fp, lc->window, lc->burst);
	now = start;
	while (likely(!*stop)) {
		now = rte_rdtsc();
		if (!pg_pace_next(&pace, &now, &n))
			break;
		if (n != 0) {
			struct pg_tx_stream *ts = &lc->tx[lc->sched[s]];

			pace.built += pg_tx_burst(ts, q, &lc->sst[ts->txs.stream_id], n, now);
			if (++s == lc->nb_sched)
				s = 0;
		}
		for (r = 0; r < nb_rx; r++)
			pg_rx_burst(lc, r);
	}
	lc->stats.tx_cycles = now > start ? now - start : 0;
	pg_tx_drop_pending(lc);
	__atomic_store_n(&lc->tx_done, 1, __ATOMIC_RELEASE);
	now = rte_rdtsc();

	/* keep receiving so frames in flight are counted, not lost */
	start = now;
	end = now + lc->drain_cycles;
	while (nb_rx != 0 && !*stop && now < end) {
		uint32_t got = 0;

		for (r = 0; r < nb_rx; r++)
			got += pg_rx_burst(lc, r);
		if (got == 0 && pg_all_received(lc->ctx))
			break;
		now = rte_rdtsc();
	}
	lc->stats.drain_cycles = now - start;
	lc->stats.interrupted = *stop != 0;
}

/* Loops 1..N-1, on their lcores: check in, wait for the shared start. */
static int
pg_loop_launched(void *arg)
{
	struct pg_lcore *lc = arg;
	struct pg_ctx *ctx = lc->ctx;
	uint64_t start;

	__atomic_fetch_add(&ctx->nb_ready, 1, __ATOMIC_RELEASE);
	while ((start = __atomic_load_n(&ctx->start_tsc, __ATOMIC_ACQUIRE)) == 0)
		rte_pause();
	if (start != PG_START_ABORT)
		pg_loop(lc, start);
	return 0;
}

/* Loops 1..upto-1 have returned. */
static void
pg_wait_loops(struct pg_ctx *ctx, uint32_t upto)
{
	uint32_t l;

	for (l = 1; l < upto; l++)
		rte_eal_wait_lcore(ctx->lc[l].lcore_id);
}

int
pg_run_trial(struct pg_ctx *ctx, const struct pg_trial *trial)
{
	const uint64_t hz = rte_get_tsc_hz();
	const uint32_t nb_loops = ctx->nb_loops;
	uint64_t window, rate_fp, start, deadline;
	uint32_t l;
	int ret;

	if (!(trial->duration_s > 0 && trial->duration_s < 1e6) ||
	    !(trial->drain_s >= 0 && trial->drain_s < 1e6) ||
	    !(trial->rate_pps >= 0 && trial->rate_pps < 1e12))
		return pg_fail(ctx, -EINVAL, "trial: duration %g s, drain %g s, rate %g pps out of "
			       "range", trial->duration_s, trial->drain_s, trial->rate_pps);
	if (rte_lcore_id() == LCORE_ID_ANY)
		return pg_fail(ctx, -EPERM, "pg_run_trial must run on an EAL lcore thread");
	if (nb_loops > 1 && rte_lcore_id() != rte_get_main_lcore())
		return pg_fail(ctx, -EPERM, "pg_run_trial with %u loops must run on the main lcore "
			       "%u (it launches the others), not on lcore %u", nb_loops,
			       rte_get_main_lcore(), rte_lcore_id());

	pg_begin_trial(ctx);
	/* deadlines and each loop's share of the rate in TSC terms before the
	 * loops; the rate is 48.16 fixed point so fractional pps are honoured */
	rate_fp = (uint64_t)(trial->rate_pps / nb_loops * 65536.0 + 0.5);
	/* what a paced window sends: rate x duration, split so the loops' shares
	 * add up to it exactly; truncating the window to whole TSC cycles would
	 * otherwise lose its last frame */
	window = (uint64_t)(trial->rate_pps * trial->duration_s + 0.5);
	for (l = 0; l < nb_loops; l++) {
		struct pg_lcore *lc = &ctx->lc[l];

		lc->rate_fp = rate_fp;
		lc->window = window / nb_loops + (l < window % nb_loops);
		lc->tx_cycles = (uint64_t)(trial->duration_s * (double)hz);
		lc->drain_cycles = (uint64_t)(trial->drain_s * (double)hz);
	}
	if (nb_loops == 1) {
		pg_loop(&ctx->lc[0], rte_rdtsc());
		return 0;
	}

	ctx->nb_ready = 0;
	ctx->start_tsc = 0;
	for (l = 1; l < nb_loops; l++) {
		ret = rte_eal_remote_launch(pg_loop_launched, &ctx->lc[l], ctx->lc[l].lcore_id);
		if (ret != 0) {
			__atomic_store_n(&ctx->start_tsc, PG_START_ABORT, __ATOMIC_RELEASE);
			pg_wait_loops(ctx, l);
			return pg_fail(ctx, ret, "loop %u: rte_eal_remote_launch on lcore %u: %s", l,
				       ctx->lc[l].lcore_id, rte_strerror(-ret));
		}
	}
	/* start together once all are spinning; a loop slower than a second
	 * to come (its CPU is busy) catches up from the shared start */
	deadline = rte_rdtsc() + hz;
	while (__atomic_load_n(&ctx->nb_ready, __ATOMIC_ACQUIRE) < nb_loops - 1 && !ctx->stop &&
	       rte_rdtsc() < deadline)
		rte_pause();
	/* 100 us ahead, so every loop reads it before it passes */
	start = rte_rdtsc() + hz / 10000;
	__atomic_store_n(&ctx->start_tsc, start, __ATOMIC_RELEASE);
	pg_loop(&ctx->lc[0], start);
	pg_wait_loops(ctx, nb_loops);
	return 0;
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
			o->rx += a->rx;
			o->unique += a->unique;
			o->duplicates += a->duplicates;
			o->reordered += a->reordered;
		}
	}
	for (i = 0; i < ctx->nb_ports; i++) {
		out->ports[i].rx += st->ports[i].rx;
		out->ports[i].rx_foreign += st->ports[i].rx_foreign;
	}
	out->tx_cycles = RTE_MAX(out->tx_cycles, st->tx_cycles);
	out->drain_cycles = RTE_MAX(out->drain_cycles, st->drain_cycles);
	out->interrupted |= st->interrupted;
	out->lat_count += st->lat_count;
	out->lat_sum += st->lat_sum;
	out->lat_min = RTE_MIN(out->lat_min, st->lat_min);
	out->lat_max = RTE_MAX(out->lat_max, st->lat_max);
	if (st->lat_count != 0)
		for (i = 0; i < PG_LAT_BUCKETS; i++)
			out->lat_hist[i] += st->lat_hist[i];
}

/* Merged stats of loops from..to-1. */
static void
pg_stats_of(struct pg_ctx *ctx, uint32_t from, uint32_t to, struct pg_stats *out)
{
	uint32_t i;

	memset(out, 0, sizeof(*out));
	out->tsc_hz = rte_get_tsc_hz();
	out->trial_id = ctx->trial_id;
	out->nb_streams = ctx->nb_streams;
	out->nb_ports = ctx->nb_ports;
	out->lat_min = UINT64_MAX;
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
