/*
 * pg_dpdk_port.c - set-up of the DPDK backend: each port with a RX/TX queue
 * pair and a RX pool per loop (RSS over the loops' queues where the device
 * has it), and each stream's TX pools, every mbuf written with its template
 * once so the loop only patches the varying fields.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_common.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>

#include "pg_dpdk.h"

/* Copy the stream's template into every mbuf once, so the loop only patches
 * the varying fields. */
struct pg_fill {
	const uint8_t *frame;
	uint32_t len;
};

static void
pg_fill_mbuf(struct rte_mempool *mp __rte_unused, void *opaque, void *obj,
	     unsigned int idx __rte_unused)
{
	const struct pg_fill *f = opaque;
	struct rte_mbuf *m = obj;

	memcpy(rte_pktmbuf_mtod(m, uint8_t *), f->frame, f->len);
	m->data_len = (uint16_t)f->len;
	m->pkt_len = f->len;
}

static int
pg_socket(uint16_t port_id)
{
	int socket = rte_eth_dev_socket_id(port_id);

	return socket < 0 ? (int)rte_socket_id() : socket;
}

static int
pg_dpdk_port_find(const char *name, uint32_t pi, uint16_t *port_id)
{
	char avail[256] = "";
	uint16_t id;
	size_t n = 0;

	if (name != NULL && rte_eth_dev_get_port_by_name(name, port_id) == 0)
		return 0;
	RTE_ETH_FOREACH_DEV(id) {
		char dev[RTE_ETH_NAME_MAX_LEN];

		if (rte_eth_dev_get_name_by_port(id, dev) == 0 && n < sizeof(avail))
			n += (size_t)snprintf(avail + n, sizeof(avail) - n, " %s", dev);
	}
	return pg_fail(NULL, -ENODEV, "port %u: no ethdev named '%s' (have:%s)", pi,
		       name ? name : "(null)", n ? avail : " none");
}

int
pg_dpdk_port_setup(struct pg_ctx *ctx, const struct pg_config *cfg, uint32_t pi)
{
	struct pg_dpdk_port *port = &((struct pg_dpdk *)ctx->priv)->ports[pi];
	const char *name = cfg->port_names[pi];
	const uint16_t nb_q = (uint16_t)ctx->nb_loops;
	struct rte_eth_conf conf;
	struct rte_eth_dev_info info;
	uint16_t nb_rxd = (uint16_t)cfg->ring_size, nb_txd = (uint16_t)cfg->ring_size, q;
	uint32_t max_frame = 0, room, si;
	char pool_name[RTE_MEMPOOL_NAMESIZE];
	int ret;

	ret = pg_dpdk_port_find(name, pi, &port->port_id);
	if (ret != 0)
		return ret;
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
		snprintf(pool_name, sizeof(pool_name), "pg%u_rx%u_%u", pg_dpdk_instance, pi, q);
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

/* Stream si on every loop: a TX pool per loop, every mbuf its template. */
int
pg_dpdk_stream_setup(struct pg_ctx *ctx, const struct pg_config *cfg, uint32_t si)
{
	struct pg_dpdk *dp = ctx->priv;
	const struct pg_stream_config *sc = &cfg->streams[si];
	const struct pg_fill fill = { ctx->frames[si], sc->frame_len };
	const uint16_t room = (uint16_t)(RTE_PKTMBUF_HEADROOM +
					 RTE_ALIGN_CEIL(sc->frame_len, RTE_CACHE_LINE_SIZE));
	char pool_name[RTE_MEMPOOL_NAMESIZE];
	uint32_t l;

	for (l = 0; l < ctx->nb_loops; l++) {
		struct pg_tx *t = &ctx->lc[l].tx[si];
		struct pg_dpdk_tx *d = &dp->tx[l][si];

		t->io = d;
		t->dev_id = dp->ports[sc->tx_port].port_id;
		d->frame_len = sc->frame_len;
		snprintf(pool_name, sizeof(pool_name), "pg%u_tx%u_%u", pg_dpdk_instance, si, l);
		d->pool = rte_pktmbuf_pool_create(pool_name, cfg->nb_mbufs, PG_POOL_CACHE, 0, room,
						  pg_socket(t->dev_id));
		if (d->pool == NULL)
			return pg_fail(NULL, -rte_errno, "stream %u: TX pool %u of %u x %u B: %s", si,
				       l, cfg->nb_mbufs, room, rte_strerror(rte_errno));
		rte_mempool_obj_iter(d->pool, pg_fill_mbuf, (void *)&fill);
	}
	return 0;
}

