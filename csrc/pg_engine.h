/*
 * pg_engine.h - the generator's one engine, inside: per-loop state, the I/O
 * table a backend fills, and the backend's set-up hooks.
 *
 * One trial loop (pg_loop.c) and one pg_* API (pg_engine.c) for every
 * backend. A backend is two tables, as testpmd's forwarding engines are:
 *
 *   struct pg_io       the loop's burst functions (hot path)
 *   struct pg_backend  set-up, tear-down, ports, launching loops (cold)
 *
 * DPDK (pg_dpdk.c), AF_PACKET (pg_afpacket.c) and AF_XDP (pg_afxdp.c, the
 * last two set up by pg_kernel.c) each provide both. Loop i sends its share
 * of every stream (flows f % N == i, a sub-stream with its own sequence
 * space, stamp stream id stream * N + i) through its own TX handles and polls
 * its own receive queues; nothing on the hot path is shared or atomic.
 */
#ifndef PG_ENGINE_H
#define PG_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "pktgen.h"
#include "pg_stream.h"

#define PG_CACHE_LINE 64
#define PG_ALIGNED __attribute__((aligned(PG_CACHE_LINE)))
/* receive queues one loop polls (ports x device queues it owns) */
#define PG_MAX_RXQ (PG_MAX_PORTS * 4)
/* after the window: frames the device has not taken get this long [1/s] */
#define PG_FLUSH_DIV 100

/* One loop's share of one stream: the per-packet state and the backend's
 * handle (a DPDK pool and queue, an AF_PACKET ring, AF_XDP chunks). */
struct pg_tx {
	struct pg_txs txs;	/* txs.stream_id is the sub-stream: index into sst[] */
	void *io;		/* backend's */
	uint32_t port_index;
	uint16_t dev_id;	/* DPDK port id */
	uint16_t queue_id;	/* DPDK TX queue: the loop index */
};

/* One receive queue a loop polls. */
struct pg_rxq {
	uint32_t port_index;
	uint16_t dev_id;	/* DPDK port id */
	uint16_t queue_id;	/* DPDK RX queue */
	void *io;		/* backend's */
};

/* The loop's burst functions. Counters: the loop adds what tx_burst returns
 * to the sub-stream's tx (built: on the wire, or held back by a full queue
 * until tx_flush/tx_cancel); tx_burst counts tx_nombuf itself. */
struct pg_io {
	/* build and hand the device up to n frames of one stream; returns how
	 * many were built (0: no buffer, or the device still refuses earlier ones) */
	uint32_t (*tx_burst)(struct pg_tx *tx, struct pg_stream_stats *st, uint32_t n, uint64_t now);
	/* receive one burst and account it (pg_rx_account); returns frames */
	uint32_t (*rx_burst)(const struct pg_rx *rx, struct pg_rxq *q);
	/* the window is over: offer held frames once more; returns how many the
	 * device has still not taken */
	uint32_t (*tx_flush)(struct pg_tx *tx);
	/* give up on those: returns how many (the loop moves them from tx to
	 * tx_dropped) */
	uint32_t (*tx_cancel)(struct pg_tx *tx);
};

struct pg_ctx;

/*
 * Everything one loop touches, on its core: configuration and this trial's
 * share first (only this loop writes the cursors once running), then the
 * counters on their own cache lines. Python reads counters, never packets.
 */
struct pg_lcore {
	struct pg_ctx *ctx;
	volatile int *stop;	/* &ctx->stop: one flag stops every loop */
	const struct pg_io *io;
	uint32_t loop;		/* index among the loops */
	uint32_t lcore_id;	/* core it runs on (DPDK: EAL lcore id) */
	uint32_t nb_loops;
	uint32_t nb_streams;	/* configured; sub-streams are nb_streams * nb_loops */
	uint32_t burst;
	uint32_t nb_rxq;
	/* this trial's share, set before the loops start */
	uint64_t rate_fp;	/* [pps] 48.16 fixed point, 0: as fast as possible */
	uint64_t window;	/* frames the paced window sends */
	uint64_t tx_cycles;
	uint64_t drain_cycles;
	uint64_t tsc_hz;
	struct pg_rx rx;
	struct pg_rxq rxq[PG_MAX_RXQ];
	struct pg_rxs rxs[PG_MAX_SUBSTREAMS];	/* by sub-stream */
	struct pg_tx tx[PG_MAX_STREAMS];	/* by configured stream */
	uint32_t weight[PG_MAX_STREAMS];	/* share of the frames, by configured stream (pg_turn); 0: a latency stream */
	/* latency streams (fixed_pps): configured stream index and this loop's
	 * rate share [pps, 48.16 fixed point], paced apart from the load */
	uint32_t nb_probes;
	uint32_t probe[PG_MAX_STREAMS];
	uint64_t probe_rate_fp[PG_MAX_STREAMS];
	double probe_pps[PG_MAX_STREAMS];	/* the stream's whole rate [pps] */
	/* snapshots (pg_trial.interval_s): the next boundary [TSC], UINT64_MAX: none */
	uint64_t snap_next;
	uint64_t snap_cycles;
	uint64_t snap_index;	/* of snap_next */
	uint64_t snap_seq;	/* snapshots taken since pg_create: a slot's gen never repeats */
	uint32_t snap_class;	/* the latency class the snapshots carry */
	struct pg_snap *snap;	/* [PG_SNAP_RING] */

	/* written by this loop only; others read them in the drain */
	struct pg_stream_stats sst[PG_MAX_SUBSTREAMS] PG_ALIGNED;	/* by sub-stream */
	struct pg_stats stats PG_ALIGNED;	/* ports, latency, times; streams[] unused */
	uint32_t tx_done;	/* window over, tx counts final (release store) */
} PG_ALIGNED;

/* Set-up and everything off the hot path. Hooks marked optional may be NULL. */
struct pg_backend {
	const char *name;
	const struct pg_io *io;
	void *(*zalloc)(size_t len);	/* cache-line aligned, zeroed */
	void (*free)(void *p);
	/* validate what only this backend knows; err as pg_config_check */
	int (*check)(const struct pg_config *cfg, char *err, size_t err_len);
	/* ports, queues and every loop's tx[].io/dev_id/queue_id, rxq[]:
	 * 0 or -errno with pg_fail(NULL, ...) said */
	int (*setup)(struct pg_ctx *ctx, const struct pg_config *cfg);
	void (*teardown)(struct pg_ctx *ctx);
	int (*port_info)(struct pg_ctx *ctx, uint32_t pi, uint32_t *port_id, uint8_t *mac);
	int (*link_up)(struct pg_ctx *ctx, uint32_t pi);	/* 1, 0 or -errno */
	/* receive drops at the generator since the trial began */
	uint64_t (*rx_missed)(struct pg_ctx *ctx, uint32_t pi);
	void (*begin_trial)(struct pg_ctx *ctx);	/* optional: reset rx_missed */
	int (*check_caller)(struct pg_ctx *ctx);	/* optional: may pg_run_trial run here? */
	/* run fn(arg) for loop l (1..N-1) on its core; join waits for it */
	int (*launch)(struct pg_ctx *ctx, uint32_t l, int (*fn)(void *), void *arg);
	void (*join)(struct pg_ctx *ctx, uint32_t l);
	void (*describe)(struct pg_ctx *ctx, char *buf, size_t len);
};

struct pg_ctx {
	struct pg_lcore lc[PG_MAX_LCORES];	/* first, so each starts on a cache line */
	/* read by every loop all the time, written once to stop them: alone */
	volatile int stop PG_ALIGNED;	/* pg_stop() or a signal; sticky */
	/* trial start: the loops spin until start_tsc is set */
	uint32_t nb_ready PG_ALIGNED;	/* loops 1..N-1 launched and waiting */
	uint64_t start_tsc;	/* 0: not yet; PG_START_ABORT */
	const struct pg_backend *be;
	void *priv;		/* the backend's ports and queues */
	uint64_t tsc_hz;
	uint16_t trial_id;
	uint32_t nb_ports;
	uint32_t nb_loops;
	uint32_t nb_streams;
	uint8_t *frames[PG_MAX_STREAMS];	/* template copies */
	char desc[PG_ERRMSG_LEN];
	char err[PG_ERRMSG_LEN];
};

/* pg_run_trial could not launch every loop: the launched ones return at once. */
#define PG_START_ABORT UINT64_MAX

extern const struct pg_backend pg_dpdk_backend;
extern const struct pg_backend pg_afpacket_backend;
extern const struct pg_backend pg_afxdp_backend;

/* Say why in ctx (NULL: process-wide, for set-up) and return status, or
 * -EINVAL when status is not negative. */
int pg_fail(struct pg_ctx *ctx, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The loop (pg_loop.c). */
int pg_loop_run_trial(struct pg_ctx *ctx, const struct pg_trial *trial);

/* Snapshots (pg_snap.c): the loop takes one at now (final: its last). */
void pg_snap_take(struct pg_lcore *lc, uint64_t now, uint32_t final);

#endif /* PG_ENGINE_H */
