/*
 * pktgen.h - public surface of the pktlab poll-mode generator.
 *
 * One engine, one API, the backend chosen in the configuration
 * (pg_config.backend): DPDK ports, or interfaces the kernel owns driven
 * through AF_PACKET rings or AF_XDP sockets. N poll loops (N = nb_lcores,
 * 1..PG_MAX_LCORES), loop i on its own queues of every port; each loop sends
 * its share of every stream and receives what lands on its queues, counting
 * loss, duplicates, reordering and one-way latency; pg_read_stats merges the
 * loops. Every call returns 0 or a negative errno; the reason is in
 * pg_errmsg().
 *
 * This header is also the cffi cdef (csrc/build_ffi.py strips the
 * preprocessor lines), so it holds only plain C: no DPDK types, no inline
 * code, and #defines that are integer literals.
 */
#ifndef PKTGEN_H
#define PKTGEN_H

#include <stdint.h>

#define PG_MAX_PORTS 8
#define PG_MAX_STREAMS 16
#define PG_MAX_LCORES 8
/* A stream sent by N loops is N sub-streams, each with its own sequence
 * space; the stamp's stream id is stream * N + loop. */
#define PG_MAX_SUBSTREAMS 128
#define PG_BURST_MAX 64
#define PG_MAX_FLOWS 16777216
#define PG_MAX_FIELDS 8
#define PG_ERRMSG_LEN 512
#define PG_WEIGHT_MAX 16

/* Frame sizes without FCS [B]: 64..9018 on the wire. */
#define PG_FRAME_MIN 60
#define PG_FRAME_MAX 9014

/*
 * Flow fields: header words that step with the flow. Flow g (0..nb_flows-1)
 * has the template's value + g % count in each (the template is flow 0), so
 * fields step together and wrap at their own count. Addresses and ports are
 * the frame's inner ones (under VXLAN), VLAN IDs and the VNI the outer's.
 */
#define PG_FIELD_SRC_IP 1	/* IPv4 address, or an IPv6 address's last 32 bits */
#define PG_FIELD_DST_IP 2
#define PG_FIELD_SRC_PORT 3	/* UDP */
#define PG_FIELD_DST_PORT 4
#define PG_FIELD_VLAN 5		/* VLAN ID of the tag next to IP (QinQ: the C-tag) */
#define PG_FIELD_OUTER_VLAN 6	/* VLAN ID of the first of two tags (QinQ: the S-tag) */
#define PG_FIELD_VNI 7		/* VXLAN network identifier */

/* The order flows are sent in: 0, 1, 2, ...; or a fixed permutation (every
 * flow once per nb_flows frames). */
#define PG_ORDER_SEQUENTIAL 0
#define PG_ORDER_RANDOM 1

/*
 * Payload stamp, right after the (inner) UDP header, little endian (18 bytes,
 * the whole payload of an untagged 64-byte IPv4 frame):
 *   0  u16 magic (PG_MAGIC, "pk")    2  u16 trial id     4  u16 stream id
 *   (stream * nb_lcores + loop: a sub-stream, see PG_MAX_SUBSTREAMS)
 *   6  u32 sequence number      10  u64 TSC at transmit
 */
#define PG_MAGIC 27504
#define PG_STAMP_LEN 18

/* Latency histogram, log-linear in TSC cycles: values below 2^(SUB_BITS)
 * have one bucket each, then every power of two is split in 2^(SUB_BITS-1)
 * buckets (relative error < 1/64). Values >= 2^PG_LAT_MAX_BITS share the
 * last bucket. */
#define PG_LAT_SUB_BITS 7
#define PG_LAT_MAX_BITS 40
#define PG_LAT_BUCKETS 2240

struct pg_flow_field {
	uint32_t field;		/* PG_FIELD_* */
	uint32_t count;		/* values, 1..PG_MAX_FLOWS */
};

struct pg_stream_config {
	uint32_t tx_port;	/* index into pg_config.port_names */
	int32_t rx_port;	/* index into pg_config.port_names, -1: TX only */
	uint32_t nb_flows;	/* 1..PG_MAX_FLOWS; > 1 needs a field */
	uint32_t order;		/* PG_ORDER_* */
	uint32_t nb_fields;	/* 0..PG_MAX_FIELDS */
	struct pg_flow_field fields[PG_MAX_FIELDS];
	uint32_t frame_len;	/* template length [B], without FCS */
	/* Ethernet, 0..2 VLAN tags, IPv4 or IPv6, UDP; or that inside VXLAN
	 * over IPv4 (outer UDP checksum 0); see pg_parse.c */
	const uint8_t *frame;
	uint32_t weight;	/* share of the frames, 1..PG_WEIGHT_MAX (IMIX 7:4:1); 0 = 1 */
	/* > 0: a latency stream, paced on its own at this rate [pps] beside the
	 * load (outside the weights and the trial's rate); its latency is kept
	 * apart, in pg_stats.lat[PG_LAT_PROBE] */
	double fixed_pps;
};

/* pg_config.backend: DPDK ethdev ports (EAL initialised first, pg_eal_init);
 * kernel interfaces through TPACKET_V2 TX/RX rings (qdisc bypass); kernel
 * interfaces through AF_XDP sockets (XDP program on RX ports). */
#define PG_BACKEND_DPDK 0
#define PG_BACKEND_AFPACKET 1
#define PG_BACKEND_AFXDP 2

struct pg_config {
	uint32_t backend;	/* PG_BACKEND_* */
	uint32_t nb_ports;
	/* DPDK: ethdev names ("net_ring0", "0000:03:00.0"); kernel: "IFNAME" or
	 * "IFNAME@NETNS" (a name under /var/run/netns: the port's sockets are
	 * made in that namespace) */
	const char *port_names[PG_MAX_PORTS];
	uint32_t nb_streams;
	struct pg_stream_config streams[PG_MAX_STREAMS];
	uint32_t burst;		/* packets per burst, 1..PG_BURST_MAX */
	uint32_t nb_mbufs;	/* DPDK: mbufs per pool (one pool per stream and loop, one per port and loop) */
	uint32_t ring_size;	/* descriptors (frames) per queue or ring; AF_XDP: a power of two */
	/* Cores of the loops, lcores[0] the calling thread's (it calls
	 * pg_run_trial); 0 or 1 loops: the calling thread, wherever it runs.
	 * DPDK: EAL lcore ids, lcores[0] the main lcore; each port gets
	 * nb_lcores RX and TX queues (RSS when the device has it). AF_PACKET:
	 * a TX ring per stream and loop, an RX ring per port and loop joined in
	 * a fanout group (flow hash). AF_XDP: loop i sends on queue i of a port
	 * (the device needs as many queues) and receives on queues q with
	 * q % nb_lcores == i. Every loop sends every stream at rate / nb_lcores,
	 * loop i the flows f with f % nb_lcores == i, so each stream needs
	 * nb_flows >= nb_lcores. */
	uint32_t nb_lcores;
	uint32_t lcores[PG_MAX_LCORES];
};

struct pg_trial {
	double rate_pps;	/* aggregate over all streams and loops [pps], 0: as fast as possible */
	double duration_s;	/* transmit window [s] */
	double drain_s;		/* receive-only time after the window [s] */
	/* > 0: the load streams send exactly this many frames (summed over the
	 * loops), at rate_pps or as fast as possible; the window ends with the
	 * last one, duration_s is then a cap (RFC 2544 back-to-back bursts) */
	uint64_t frames;
	/* > 0: every loop takes a snapshot of its counters every interval_s [s]
	 * from the window's start and one at the end (pg_read_snap) */
	double interval_s;
};

struct pg_stream_stats {
	uint64_t tx;		/* accepted by the TX queue */
	uint64_t tx_dropped;	/* built, still refused by the TX queue at the end (DPDK: refused frames are retried) */
	uint64_t tx_nombuf;	/* bursts skipped because the pool was empty */
	uint64_t rx;		/* own frames received, duplicates included */
	uint64_t unique;
	uint64_t duplicates;
	uint64_t reordered;	/* seq below the highest seen, not a duplicate */
};

struct pg_port_stats {
	uint64_t tx;		/* sum of tx of the streams sending here */
	uint64_t rx;		/* every frame received, own or not */
	uint64_t rx_foreign;	/* frames without this trial's signature */
};

/* Latency classes: frames of the load streams, and of the latency streams
 * (pg_stream_config.fixed_pps > 0), each class with its own accumulator. */
#define PG_LAT_LOAD 0
#define PG_LAT_PROBE 1
#define PG_LAT_CLASSES 2

/* One-way latency and IPDV of one class [TSC cycles]. IPDV (RFC 3393, RFC
 * 5481 selection "consecutive"): delay(n+1) - delay(n) of frames n and n+1 of
 * one sub-stream that one loop received one right after the other (a pair
 * split by loss, reordering or two loops' queues is no pair). */
struct pg_lat_stats {
	uint64_t count;
	uint64_t sum;
	uint64_t min;		/* UINT64_MAX without frames */
	uint64_t max;
	uint64_t ivl_min;	/* since the last snapshot (pg_read_snap), UINT64_MAX: none */
	uint64_t ivl_max;
	uint64_t hist[PG_LAT_BUCKETS];
	uint64_t ipdv_count;
	int64_t ipdv_sum;	/* signed: ~0 when the delay does not drift */
	uint64_t ipdv_abs_sum;	/* of |IPDV| */
	int64_t ipdv_min;	/* signed, INT64_MAX without pairs */
	int64_t ipdv_max;	/* signed, INT64_MIN without pairs */
	uint64_t ipdv_ivl_max;	/* largest |IPDV| since the last snapshot */
	uint64_t ipdv_hist[PG_LAT_BUCKETS];	/* of |IPDV|, buckets as hist */
};

/* A trial's counters, summed over the loops (latency merged); streams[] per
 * configured stream, its sub-streams added up. */
struct pg_stats {
	uint64_t tsc_hz;
	uint64_t tx_cycles;	/* measured transmit window, the longest loop's [TSC cycles] */
	uint64_t drain_cycles;	/* receive-only time actually spent, the longest loop's */
	uint32_t trial_id;
	uint32_t interrupted;	/* pg_stop() ended the trial early */
	uint32_t nb_streams;
	uint32_t nb_ports;
	struct pg_stream_stats streams[PG_MAX_STREAMS];
	struct pg_port_stats ports[PG_MAX_PORTS];
	struct pg_lat_stats lat[PG_LAT_CLASSES];	/* the load's, the latency streams' */
};

struct pg_ctx;

/* EAL, once per process, before a DPDK generator. argv[0] is the program name. */
int pg_eal_init(int argc, char **argv);
int pg_eal_cleanup(void);
const char *pg_dpdk_version(void);
/* TSC frequency: EAL's once EAL runs, else calibrated once per process
 * (~100 ms) against CLOCK_MONOTONIC_RAW; and the TSC as the loops read it. */
uint64_t pg_tsc_hz(void);
uint64_t pg_rdtsc(void);

/* Validate the config and templates, set up the ports (DPDK: configure and
 * start them, fill the pools; kernel: sockets, rings, XDP program), the
 * calling thread pinned to lcores[0] for the kernel backends. On failure
 * *ctx is NULL and pg_errmsg(NULL) says why. */
int pg_create(const struct pg_config *cfg, struct pg_ctx **ctx);
void pg_destroy(struct pg_ctx *ctx);

/* Error text of the last failed call on ctx; ctx NULL: process-wide (EAL,
 * pg_create). */
const char *pg_errmsg(const struct pg_ctx *ctx);
/* What was set up, for the log: "DPDK 22.11.x", or the kernel mode, XDP
 * attach mode, copy/zero-copy and the kernel release. */
const char *pg_description(const struct pg_ctx *ctx);

/* Port by index: its id (DPDK port id, or the kernel ifindex in its
 * namespace) and MAC as 6 bytes; link state (1 up, 0 down; kernel: IFF_UP
 * and IFF_RUNNING). */
int pg_port_info(struct pg_ctx *ctx, uint32_t port_index, uint32_t *port_id, uint8_t *mac);
int pg_link_up(struct pg_ctx *ctx, uint32_t port_index);
/* Frames dropped on the way into the generator's receive queues since the
 * trial began (DPDK imissed + rx_nombuf; the kernel's ring drops): counted
 * lost like any other, this says where. */
int pg_port_rx_missed(struct pg_ctx *ctx, uint32_t port_index, uint64_t *missed);

/* Run one trial: loop 0 on the calling thread, the others launched on their
 * cores, all from one start TSC; returns when every loop's window and drain
 * are over, or early after pg_stop(). */
int pg_run_trial(struct pg_ctx *ctx, const struct pg_trial *trial);

/* Async-signal-safe: end a running trial early (reported interrupted).
 * Sticky: later trials on ctx return at once, interrupted. */
void pg_stop(struct pg_ctx *ctx);

/* Install a SIGINT/SIGTERM handler that calls pg_stop(ctx) and writes one
 * byte to wake_fd (-1: none), so an idle caller can select() on it. */
int pg_catch_signals(struct pg_ctx *ctx, int wake_fd);
/* Signal number caught by that handler, 0 if none. */
int pg_signal_caught(void);

int pg_read_stats(struct pg_ctx *ctx, struct pg_stats *stats);
/* One loop's share of the last trial, for diagnostics: streams[s].tx what it
 * sent of stream s, rx and the rest what it received on its queues; ports and
 * latency what it saw. Summed over the loops this is pg_read_stats. */
int pg_read_loop_stats(struct pg_ctx *ctx, uint32_t loop, struct pg_stats *stats);

/* Running counters of one loop, taken by the loop itself (no syscall, no
 * lock: a ring of PG_SNAP_RING slots per loop the caller drains while the
 * trial runs) every pg_trial.interval_s from the window's start, and once
 * more when its trial ends (final = 1). Counts are cumulative since the
 * trial's start, so a slot the caller missed loses no frame: the next one
 * spans both intervals. ivl_* are since the loop's previous snapshot. */
#define PG_SNAP_RING 16

struct pg_snap_stream {
	uint64_t tx;		/* this loop's share of the stream's frames sent */
	uint64_t tx_dropped;
	uint64_t unique;	/* received on this loop's queues */
	uint64_t duplicates;
	uint64_t reordered;
};

struct pg_snap {
	uint64_t gen;		/* seqlock: 2 * seq + 2 once slot seq is complete */
	uint64_t seq;		/* in the order this loop took them, since pg_create */
	uint64_t index;		/* interval boundary start + index * interval; final: the next one */
	uint64_t start_tsc;	/* the window's start */
	uint64_t tsc;		/* when taken */
	uint32_t final;		/* the last of the trial: the loop's counters are final */
	uint32_t lat_class;	/* PG_LAT_PROBE when the trial has latency streams, else PG_LAT_LOAD */
	struct pg_snap_stream streams[PG_MAX_STREAMS];	/* by configured stream */
	uint64_t lat_count;	/* lat_class's, cumulative [TSC cycles] */
	uint64_t lat_sum;
	uint64_t lat_ivl_min;	/* UINT64_MAX: no frame in the interval */
	uint64_t lat_ivl_max;
	uint64_t ipdv_count;
	uint64_t ipdv_abs_sum;
	uint64_t ipdv_ivl_max;
	uint64_t lat_hist[PG_LAT_BUCKETS];	/* cumulative */
};

/* Snapshots are numbered per loop since pg_create: the number the loop's
 * next one will get (read it before pg_run_trial: the trial's first). */
uint64_t pg_snap_next_seq(struct pg_ctx *ctx, uint32_t loop);
/* Copy loop's snapshot number seq: 0, -EAGAIN (not taken yet), -ESTALE
 * (overwritten: the caller was more than PG_SNAP_RING behind; skip it) or
 * -EINVAL (no such loop). */
int pg_read_snap(struct pg_ctx *ctx, uint32_t loop, uint64_t seq, struct pg_snap *out);

/* Test seam: start a new accounting epoch without sending (counters zeroed,
 * trial id advanced), as pg_run_trial does; returns the new trial id. */
int pg_begin_trial(struct pg_ctx *ctx);
/* Test seam: account one received frame exactly as loop 0 does.
 * Returns 1 if it was one of this trial's frames, 0 if foreign. */
int pg_account_frame(struct pg_ctx *ctx, uint32_t port_index, const uint8_t *frame,
		     uint32_t len, uint64_t now_tsc);

#endif /* PKTGEN_H */
