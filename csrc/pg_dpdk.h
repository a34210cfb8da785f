/*
 * pg_dpdk.h - what the DPDK backend's two files share: its per-loop TX
 * state, its ports, and the set-up of both (pg_dpdk_port.c).
 */
#ifndef PG_DPDK_H
#define PG_DPDK_H

#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "pg_engine.h"

#define PG_POOL_CACHE 256	/* per-lcore mempool cache [mbufs] */
#define PG_RX_PREFETCH 4	/* frames prefetched ahead on receive */

/* One loop's share of a TX stream: its pool, and frames a full TX queue
 * refused, kept in order and offered again before anything new is built. */
struct pg_dpdk_tx {
	struct rte_mempool *pool;
	uint32_t frame_len;
	uint16_t nb_pending;
	struct rte_mbuf *pending[PG_BURST_MAX];
};

struct pg_dpdk_port {
	uint16_t port_id;
	int started;
	uint64_t missed_base;	/* imissed + rx_nombuf when the trial began */
	struct rte_mempool *rx_pool[PG_MAX_LCORES];	/* one per RX queue: per loop */
};

struct pg_dpdk {
	struct pg_dpdk_port ports[PG_MAX_PORTS];
	struct pg_dpdk_tx tx[PG_MAX_LCORES][PG_MAX_STREAMS];
};

extern unsigned int pg_dpdk_instance;	/* makes pool names unique per process */

/* Port pi: queues for every loop, RX pools, started, promiscuous. */
int pg_dpdk_port_setup(struct pg_ctx *ctx, const struct pg_config *cfg, uint32_t pi);
/* Stream si: a TX pool per loop, every mbuf holding its template. */
int pg_dpdk_stream_setup(struct pg_ctx *ctx, const struct pg_config *cfg, uint32_t si);

#endif /* PG_DPDK_H */
