/*
 * pg_kernel.c - kernel backend of the pktlab generator: interfaces the kernel
 * owns (veths, bridge ports, NICs left to their driver), no EAL.
 *
 * The same streams, stamps, accounting and trial loop as pktgen.c, over one
 * of two kernel interfaces, picked per generator (struct pgk_options.mode):
 *
 *  AF_PACKET  TPACKET_V2 rings mmap'ed into the process. One TX ring per
 *             stream (every slot holds the stream's template, as every mbuf
 *             of a DPDK pool does), PACKET_QDISC_BYPASS, one
 *             sendto(MSG_DONTWAIT) per burst. One RX ring per port, bound to
 *             ETH_P_ALL, outgoing frames ignored, walked by slot status: no
 *             syscall at all on receive.
 *  AF_XDP     libxdp's xsk rings on a UMEM per (port, queue). TX from the
 *             queue-0 socket (one sendto per burst: copy mode on veth has no
 *             other way), RX on a socket per receive queue fed by a 6-insn
 *             XDP program that redirects every frame to the socket of its
 *             queue. pktlab loads that program itself and attaches it with a
 *             bpf_link (see pgk_xdp_attach): the link dies with the process,
 *             so not even SIGKILL leaves a program on the interface.
 *
 * Ports are "IFNAME" or "IFNAME@NETNS" (/var/run/netns/NETNS): every socket
 * of a port is made inside its namespace (setns there and back, this thread
 * only), and keeps working from ours.
 *
 * No EAL, so no rte_get_tsc_hz(): the TSC is calibrated once per process
 * against CLOCK_MONOTONIC_RAW (100 ms, as DPDK's own fallback does).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <linux/bpf.h>
#include <linux/ethtool.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/if_packet.h>
#include <linux/if_xdp.h>
#include <linux/sockios.h>

#include <bpf/bpf.h>
#include <xdp/xsk.h>

#include "pktgen.h"
#include "pg_stream.h"

#define PGK_CACHE_LINE 64
#define PGK_NETNS_DIR "/var/run/netns"
#define PGK_CALIBRATE_NS 100000000L	/* TSC calibration window [ns] */
#define PGK_FLUSH_DIV 100		/* frames left in a TX ring: kick for 1/100 s */
#define PGK_SNDBUF (16 << 20)		/* [B] skbs a TX socket may have in flight */
#define PGK_MAX_QUEUES 4		/* receive queues per port (AF_XDP: a socket each) */
#define PGK_MAX_RXQ (PG_MAX_PORTS * PGK_MAX_QUEUES)

/* AF_PACKET: TX data follows the tpacket2 header (no PACKET_TX_HAS_OFF) */
#define PGK_TX_DATA_OFF (TPACKET2_HDRLEN - sizeof(struct sockaddr_ll))
/* AF_PACKET RX slot: header (the frame lands at tp_mac = 66) and the first
 * 190 bytes of the frame, the kernel truncates the rest. The stamp is within
 * the first 64 (68 tagged): copying less makes jumbo frames cheap. */
#define PGK_RX_SLOT 256
#define PGK_PAGE 4096u

/* AF_XDP: largest frame one UMEM chunk takes (4096 less the XDP headroom
 * and the skb_shared_info a copy-mode driver keeps after the data) */
#define PGK_XSK_MAX_FRAME 3498
#ifndef XDP_MAX_TX_SKB_BUDGET
#define XDP_MAX_TX_SKB_BUDGET 9		/* Linux 6.17: frames one sendto may send */
#endif

struct pgk_xsk;

/* One TX stream: template, cursor, and where its frames are built. */
struct pgk_tx_stream {
	struct pg_txs txs;
	uint32_t port_index;
	uint32_t frame_len;
	/* AF_PACKET: the stream's own TX ring */
	int fd;
	uint32_t slot_size;
	uint32_t nb_slots;
	uint32_t head;		/* next slot to fill */
	uint8_t *ring;
	size_t ring_len;
	/* AF_XDP: its chunks of the port's queue-0 UMEM */
	struct pgk_xsk *xsk;
	uint64_t *free;		/* addresses of chunks not in flight, a stack */
	uint32_t nb_free;
	uint32_t nb_chunks;
	uint8_t *frame;		/* template copy, for the per-trial base sums */
};

/* One AF_XDP socket, on (port, queue), with its own UMEM. */
struct pgk_xsk {
	struct xsk_ring_cons rx;
	struct xsk_ring_prod fill;
	struct xsk_ring_prod tx;
	struct xsk_ring_cons comp;
	uint8_t *area;		/* the UMEM */
	uint64_t chunk_mask;	/* ~(chunk size - 1) */
	uint32_t chunk_shift;
	uint32_t tx_chunk0;	/* first TX chunk; RX chunks come before */
	uint8_t *owner;		/* TX chunk - tx_chunk0 -> stream index */
	struct pgk_tx_stream *streams;
	int fd;
	uint32_t port_index;
	uint32_t queue_id;
	uint32_t has_rx;
	uint32_t has_tx;
	size_t area_len;
	struct xsk_umem *umem;
	struct xsk_socket *sock;
};

/* One receive queue the loop polls. */
struct pgk_rxq {
	uint32_t port_index;
	uint32_t nb_slots;	/* AF_PACKET */
	uint32_t head;
	uint8_t *ring;
	struct pgk_xsk *xsk;	/* AF_XDP */
};

/* The per-mode work: a burst each way, and the end of the TX window. */
struct pgk_ops {
	/* build and hand the kernel up to n frames; returns how many */
	uint32_t (*tx_burst)(struct pgk_tx_stream *ts, struct pg_stream_stats *st, uint32_t n,
			     uint64_t now);
	uint32_t (*rx_burst)(const struct pg_rx *rx, struct pgk_rxq *q);
	/* kick the kernel once more; returns frames it has not taken yet */
	uint32_t (*tx_flush)(struct pgk_tx_stream *ts);
	/* after the flush: take back what the kernel never took (counted
	 * tx_dropped by the caller); returns how many */
	uint32_t (*tx_cancel)(struct pgk_tx_stream *ts);
};

/* Everything the loop touches (pktgen.c's struct pg_lcore, kernel flavour). */
struct pgk_lcore {
	volatile int stop;	/* set by pgk_stop(), sticky */
	uint32_t nb_streams;
	uint32_t burst;
	uint32_t nb_rxq;
	const struct pgk_ops *ops;
	struct pg_rx rx;
	struct pgk_rxq rxq[PGK_MAX_RXQ];
	struct pg_rxs rxs[PG_MAX_STREAMS];
	struct pgk_tx_stream tx[PG_MAX_STREAMS];
	uint32_t nb_sched;	/* streams' turns, weighted (pg_sched_build) */
	uint8_t sched[PG_MAX_STREAMS * PG_WEIGHT_MAX];

	struct pg_stats stats __attribute__((aligned(PGK_CACHE_LINE)));
} __attribute__((aligned(PGK_CACHE_LINE)));

struct pgk_port {
	char ifname[IFNAMSIZ];
	char netns[NAME_MAX + 1];	/* "" : ours */
	int ns_fd;		/* open while the port lives: the way back in to detach */
	int ctl_fd;		/* AF_PACKET, protocol 0 (receives nothing): ioctls */
	int rx_fd;		/* AF_PACKET RX ring */
	uint8_t *rx_ring;
	size_t rx_ring_len;
	int ifindex;
	uint32_t mtu;
	uint8_t mac[6];
	int receives;		/* some stream expects frames here */
	uint32_t nb_queues;	/* AF_XDP sockets */
	struct pgk_xsk *xsk[PGK_MAX_QUEUES];
	int xdp_map_fd;
	int xdp_prog_fd;
	int xdp_link_fd;
	const char *xdp_how;	/* "native", "generic" */
	uint64_t drops_base;	/* kernel ring drops before this trial */
};

struct pgk_ctx {
	struct pgk_lcore lc;	/* first, so it starts on a cache line */
	uint16_t trial_id;
	uint32_t mode;
	uint32_t nb_ports;
	struct pgk_port ports[PG_MAX_PORTS];
	char desc[PG_ERRMSG_LEN];
	char err[PG_ERRMSG_LEN];
};

static char pgk_global_err[PG_ERRMSG_LEN];
static uint64_t pgk_hz;


static int __attribute__((format(printf, 3, 4)))
pgk_fail(struct pgk_ctx *ctx, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ctx != NULL ? ctx->err : pgk_global_err, PG_ERRMSG_LEN, fmt, ap);
	va_end(ap);
	return status < 0 ? status : -EINVAL;
}

const char *
pgk_errmsg(const struct pgk_ctx *ctx)
{
	return ctx != NULL ? ctx->err : pgk_global_err;
}

/* ---- time ------------------------------------------------------------- */

static inline uint64_t
pgk_rdtsc(void)
{
#if defined(__x86_64__) || defined(__i386__)
	return __builtin_ia32_rdtsc();
#else
	struct timespec ts;	/* no TSC: nanoseconds stand in, pgk_tsc_hz() is 1e9 */

	clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
#endif
}

static inline void
pgk_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#else
	__asm__ volatile("" ::: "memory");
#endif
}

uint64_t
pgk_rdtsc_now(void)
{
	return pgk_rdtsc();
}

/* A (TSC, clock) pair taken as close together as a few tries allow. */
static void
pgk_clock_pair(uint64_t *tsc, uint64_t *ns)
{
	uint64_t best = UINT64_MAX;
	int i;

	for (i = 0; i < 16; i++) {
		struct timespec ts;
		const uint64_t a = pgk_rdtsc();
		uint64_t b;

		clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
		b = pgk_rdtsc();
		if (b - a < best) {
			best = b - a;
			*tsc = a + (b - a) / 2;
			*ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
		}
	}
}

uint64_t
pgk_tsc_hz(void)
{
#if defined(__x86_64__) || defined(__i386__)
	if (pgk_hz == 0) {
		struct timespec left = { 0, PGK_CALIBRATE_NS };
		uint64_t t0 = 0, n0 = 0, t1 = 0, n1 = 1;

		pgk_clock_pair(&t0, &n0);
		while (nanosleep(&left, &left) != 0 && errno == EINTR)
			;
		pgk_clock_pair(&t1, &n1);
		pgk_hz = (uint64_t)((double)(t1 - t0) * 1e9 / (double)(n1 - n0) + 0.5);
	}
#else
	pgk_hz = 1000000000u;
#endif
	return pgk_hz;
}

/* ---- namespaces ------------------------------------------------------- */

/* Enter port p's namespace; *back is ours (or -1 when p has none). */
static int
pgk_enter(struct pgk_port *p, int *back)
{
	*back = -1;
	if (p->ns_fd < 0)
		return 0;
	*back = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (*back < 0)
		return pgk_fail(NULL, -errno, "port %s@%s: open /proc/thread-self/ns/net: %s",
				p->ifname, p->netns, strerror(errno));
	if (setns(p->ns_fd, CLONE_NEWNET) != 0) {
		int e = errno;

		close(*back);
		*back = -1;
		return pgk_fail(NULL, -e, "port %s@%s: setns into the namespace: %s", p->ifname,
				p->netns, strerror(e));
	}
	return 0;
}

/* Back to our namespace. Failing here would leave this thread in another
 * one, where the next port's name would mean something else: abort. */
static void
pgk_leave(int back)
{
	if (back < 0)
		return;
	if (setns(back, CLONE_NEWNET) != 0) {
		fprintf(stderr, "pktlab generator: setns back to our namespace: %s\n", strerror(errno));
		abort();
	}
	close(back);
}

static int
pgk_parse_port(struct pgk_port *p, uint32_t pi, const char *name)
{
	const char *at;
	size_t n;

	if (name == NULL)
		return pgk_fail(NULL, -EINVAL, "port %u: no name", pi);
	at = strchr(name, '@');
	n = at ? (size_t)(at - name) : strlen(name);
	if (n == 0 || n >= IFNAMSIZ)
		return pgk_fail(NULL, -EINVAL, "port %u: '%s': interface name must be 1..%d bytes",
				pi, name, IFNAMSIZ - 1);
	memcpy(p->ifname, name, n);
	p->ifname[n] = '\0';
	if (at == NULL)
		return 0;
	if (at[1] == '\0' || strlen(at + 1) > NAME_MAX || strchr(at + 1, '/') ||
	    !strcmp(at + 1, ".") || !strcmp(at + 1, ".."))
		return pgk_fail(NULL, -EINVAL, "port %u: '%s': bad namespace name after '@'", pi,
				name);
	snprintf(p->netns, sizeof(p->netns), "%s", at + 1);
	return 0;
}

/* "veth0" or "veth0@ns", for messages */
static const char *
pgk_where(const struct pgk_port *p, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s", p->ifname, p->netns[0] ? "@" : "", p->netns);
	return buf;
}

/* ---- AF_PACKET -------------------------------------------------------- */

static inline struct tpacket2_hdr *
pkt_slot(uint8_t *ring, uint32_t slot_size, uint32_t i)
{
	return (struct tpacket2_hdr *)(ring + (size_t)i * slot_size);
}

static inline uint32_t
pkt_status(const struct tpacket2_hdr *h)
{
	return __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);
}

static inline void
pkt_set_status(struct tpacket2_hdr *h, uint32_t status)
{
	__atomic_store_n(&h->tp_status, status, __ATOMIC_RELEASE);
}

static inline void
pkt_kick(int fd)
{
	/* EAGAIN/ENOBUFS: the frames stay queued and go with the next kick;
	 * a lasting error fills the ring and shows as tx_nombuf/tx_dropped */
	(void)sendto(fd, NULL, 0, MSG_DONTWAIT, NULL, 0);
}

static uint32_t
pkt_tx_burst(struct pgk_tx_stream *ts, struct pg_stream_stats *st, uint32_t n, uint64_t now)
{
	uint8_t *frames[PG_BURST_MAX];
	struct tpacket2_hdr *hdrs[PG_BURST_MAX];
	const uint32_t nb_slots = ts->nb_slots, slot_size = ts->slot_size;
	uint32_t i, slot = ts->head;

	for (i = 0; i < n; i++) {
		struct tpacket2_hdr *h = pkt_slot(ts->ring, slot_size, slot);

		if (PG_UNLIKELY(pkt_status(h) != TP_STATUS_AVAILABLE))
			break;	/* the kernel still holds it */
		hdrs[i] = h;
		frames[i] = (uint8_t *)h + PGK_TX_DATA_OFF;
		if (++slot == nb_slots)
			slot = 0;
	}
	if (PG_UNLIKELY(i == 0)) {
		st->tx_nombuf++;
		pkt_kick(ts->fd);
		return 0;
	}
	n = i;
	pg_txs_stamp(&ts->txs, frames, n, now);
	for (i = 0; i < n; i++)
		pkt_set_status(hdrs[i], TP_STATUS_SEND_REQUEST);
	ts->head = slot;
	st->tx += n;
	pkt_kick(ts->fd);
	return n;
}

/* Frames queued but not taken: a run of SEND_REQUEST (or WRONG_FORMAT,
 * where the kernel stopped) slots right behind head. */
static uint32_t
pkt_tx_queued(const struct pgk_tx_stream *ts)
{
	uint32_t k, slot = ts->head;

	for (k = 0; k < ts->nb_slots; k++) {
		slot = slot == 0 ? ts->nb_slots - 1 : slot - 1;
		const uint32_t s = pkt_status(pkt_slot(ts->ring, ts->slot_size, slot));

		if (s != TP_STATUS_SEND_REQUEST && s != TP_STATUS_WRONG_FORMAT)
			break;
	}
	return k;
}

static uint32_t
pkt_tx_flush(struct pgk_tx_stream *ts)
{
	if (pkt_tx_queued(ts) == 0)
		return 0;
	pkt_kick(ts->fd);
	return pkt_tx_queued(ts);
}

static uint32_t
pkt_tx_cancel(struct pgk_tx_stream *ts)
{
	const uint32_t k = pkt_tx_queued(ts);
	uint32_t i;

	/* the kernel's own head is at the oldest of them: ours goes back there */
	for (i = 0; i < k; i++) {
		ts->head = ts->head == 0 ? ts->nb_slots - 1 : ts->head - 1;
		pkt_set_status(pkt_slot(ts->ring, ts->slot_size, ts->head), TP_STATUS_AVAILABLE);
	}
	if (k)
		pg_txs_rewind(&ts->txs, k);
	return k;
}

static uint32_t
pkt_rx_burst(const struct pg_rx *rx, struct pgk_rxq *q)
{
	const uint32_t nb_slots = q->nb_slots, pi = q->port_index;
	uint32_t i, slot = q->head;
	uint64_t now = 0;

	for (i = 0; i < PG_BURST_MAX; i++) {
		struct tpacket2_hdr *h = pkt_slot(q->ring, PGK_RX_SLOT, slot);

		if (!(pkt_status(h) & TP_STATUS_USER))
			break;
		if (i == 0)
			now = pgk_rdtsc();
		pg_rx_account(rx, pi, (const uint8_t *)h + h->tp_mac, h->tp_snaplen, now);
		pkt_set_status(h, TP_STATUS_KERNEL);
		if (++slot == nb_slots)
			slot = 0;
	}
	q->head = slot;
	return i;
}

static const struct pgk_ops pkt_ops = {
	.tx_burst = pkt_tx_burst,
	.rx_burst = pkt_rx_burst,
	.tx_flush = pkt_tx_flush,
	.tx_cancel = pkt_tx_cancel,
};

static int
pkt_setsockopt(int fd, int level, int name, const void *val, socklen_t len, const char *what,
	       const char *port)
{
	if (setsockopt(fd, level, name, val, len) != 0)
		return pgk_fail(NULL, -errno, "port %s: setsockopt %s: %s", port, what,
				strerror(errno));
	return 0;
}

/* A TPACKET_V2 ring of at least nb frames of slot_size (a power of two) on
 * fd, mapped; returns the frame count. */
static int
pkt_ring(int fd, int which, uint32_t slot_size, uint32_t nb, uint8_t **ring, size_t *len,
	 const char *port)
{
	const uint32_t block = slot_size > PGK_PAGE ? slot_size : PGK_PAGE;
	const uint32_t per_block = block / slot_size;
	struct tpacket_req req;
	void *map;

	req.tp_block_size = block;
	req.tp_block_nr = (nb + per_block - 1) / per_block;
	req.tp_frame_size = slot_size;
	req.tp_frame_nr = req.tp_block_nr * per_block;
	if (setsockopt(fd, SOL_PACKET, which, &req, sizeof(req)) != 0)
		return pgk_fail(NULL, -errno, "port %s: %s of %u x %u B: %s", port,
				which == PACKET_TX_RING ? "PACKET_TX_RING" : "PACKET_RX_RING",
				req.tp_frame_nr, slot_size, strerror(errno));
	*len = (size_t)req.tp_block_nr * block;
	map = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
	if (map == MAP_FAILED) {
		const int e = errno;

		pgk_fail(NULL, -e, "port %s: mmap of a %zu-byte ring: %s", port, *len, strerror(e));
		*len = 0;
		return -e;
	}
	*ring = map;
	return (int)req.tp_frame_nr;
}

static int
pkt_bind(int fd, int ifindex, uint16_t proto, const char *port)
{
	struct sockaddr_ll sll;

	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(proto);
	sll.sll_ifindex = ifindex;
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) != 0)
		return pgk_fail(NULL, -errno, "port %s: bind AF_PACKET socket: %s", port,
				strerror(errno));
	return 0;
}

/* The port's receive ring: every frame the interface receives, none it sends. */
static int
pkt_rx_setup(struct pgk_port *p, uint32_t ring_size, const char *port)
{
	const int v2 = TPACKET_V2, one = 1;
	int ret;

	/* protocol 0 until bound to the interface: ETH_P_ALL right away
	 * would queue frames from every interface in the namespace */
	p->rx_fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (p->rx_fd < 0)
		return pgk_fail(NULL, -errno, "port %s: AF_PACKET socket: %s", port, strerror(errno));
	ret = pkt_setsockopt(p->rx_fd, SOL_PACKET, PACKET_VERSION, &v2, sizeof(v2),
			     "PACKET_VERSION TPACKET_V2", port);
	if (ret == 0)
		ret = pkt_setsockopt(p->rx_fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one,
				     sizeof(one), "PACKET_IGNORE_OUTGOING", port);
	if (ret != 0)
		return ret;
	ret = pkt_ring(p->rx_fd, PACKET_RX_RING, PGK_RX_SLOT, ring_size, &p->rx_ring,
		       &p->rx_ring_len, port);
	if (ret < 0)
		return ret;
	ret = pkt_bind(p->rx_fd, p->ifindex, ETH_P_ALL, port);
	return ret < 0 ? ret : (int)(p->rx_ring_len / PGK_RX_SLOT);
}

static uint32_t
pgk_pow2(uint32_t v)
{
	uint32_t p = 1;

	while (p < v)
		p <<= 1;
	return p;
}

/* The stream's transmit ring, every slot holding its template. */
static int
pkt_tx_setup(struct pgk_tx_stream *ts, const struct pgk_port *p, uint32_t ring_size,
	     const char *port)
{
	const int v2 = TPACKET_V2, one = 1, sndbuf = PGK_SNDBUF;
	uint32_t i;
	int ret;

	ts->fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);	/* protocol 0: sends only */
	if (ts->fd < 0)
		return pgk_fail(NULL, -errno, "port %s: AF_PACKET socket: %s", port, strerror(errno));
	ret = pkt_setsockopt(ts->fd, SOL_PACKET, PACKET_VERSION, &v2, sizeof(v2),
			     "PACKET_VERSION TPACKET_V2", port);
	if (ret == 0)
		ret = pkt_setsockopt(ts->fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one),
				     "PACKET_QDISC_BYPASS", port);
	/* skbs in flight are charged to the socket: room for a full ring */
	if (ret == 0)
		ret = pkt_setsockopt(ts->fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf),
				     "SO_SNDBUFFORCE", port);
	if (ret != 0)
		return ret;
	ts->slot_size = pgk_pow2((uint32_t)PGK_TX_DATA_OFF + ts->frame_len);
	if (ts->slot_size < 128)
		ts->slot_size = 128;
	ret = pkt_ring(ts->fd, PACKET_TX_RING, ts->slot_size, ring_size, &ts->ring, &ts->ring_len,
		       port);
	if (ret < 0)
		return ret;
	ts->nb_slots = (uint32_t)ret;
	for (i = 0; i < ts->nb_slots; i++) {
		struct tpacket2_hdr *h = pkt_slot(ts->ring, ts->slot_size, i);

		memcpy((uint8_t *)h + PGK_TX_DATA_OFF, ts->frame, ts->frame_len);
		h->tp_len = ts->frame_len;
		h->tp_status = TP_STATUS_AVAILABLE;
	}
	return pkt_bind(ts->fd, p->ifindex, 0, port);
}

/* ---- AF_XDP ----------------------------------------------------------- */

/* Completed TX chunks back to the streams that own them. */
static inline void
xdp_complete(struct pgk_xsk *x)
{
	uint32_t i, idx, n;

	n = xsk_ring_cons__peek(&x->comp, UINT32_MAX, &idx);
	if (n == 0)
		return;
	for (i = 0; i < n; i++) {
		const uint64_t addr = *xsk_ring_cons__comp_addr(&x->comp, idx + i) & x->chunk_mask;
		struct pgk_tx_stream *ts =
			&x->streams[x->owner[(addr >> x->chunk_shift) - x->tx_chunk0]];

		ts->free[ts->nb_free++] = addr;
	}
	xsk_ring_cons__release(&x->comp, n);
}

static inline void
xdp_kick(struct pgk_xsk *x)
{
	/* copy mode (veth) always wants the kick: the kernel builds and sends
	 * the skbs inside this call. Errors: as pkt_kick. */
	if (xsk_ring_prod__needs_wakeup(&x->tx))
		(void)sendto(x->fd, NULL, 0, MSG_DONTWAIT, NULL, 0);
}

static uint32_t
xdp_tx_burst(struct pgk_tx_stream *ts, struct pg_stream_stats *st, uint32_t n, uint64_t now)
{
	struct pgk_xsk *x = ts->xsk;
	uint8_t *frames[PG_BURST_MAX];
	uint64_t addrs[PG_BURST_MAX];
	uint32_t i, idx = 0, room;

	if (ts->nb_free < n)
		xdp_complete(x);
	room = xsk_prod_nb_free(&x->tx, n);
	n = n < ts->nb_free ? n : ts->nb_free;
	n = n < room ? n : room;
	if (PG_UNLIKELY(n == 0)) {
		st->tx_nombuf++;
		xdp_kick(x);
		return 0;
	}
	xsk_ring_prod__reserve(&x->tx, n, &idx);
	for (i = 0; i < n; i++) {
		addrs[i] = ts->free[--ts->nb_free];
		frames[i] = x->area + addrs[i];
	}
	pg_txs_stamp(&ts->txs, frames, n, now);
	for (i = 0; i < n; i++) {
		struct xdp_desc *d = xsk_ring_prod__tx_desc(&x->tx, idx + i);

		d->addr = addrs[i];
		d->len = ts->frame_len;
		d->options = 0;
	}
	xsk_ring_prod__submit(&x->tx, n);
	st->tx += n;
	xdp_kick(x);
	return n;
}

static inline uint32_t
xdp_tx_queued(const struct pgk_xsk *x)
{
	return *x->tx.producer - __atomic_load_n(x->tx.consumer, __ATOMIC_ACQUIRE);
}

static uint32_t
xdp_tx_flush(struct pgk_tx_stream *ts)
{
	struct pgk_xsk *x = ts->xsk;

	xdp_complete(x);
	if (xdp_tx_queued(x) == 0)
		return 0;
	xdp_kick(x);
	return xdp_tx_queued(x);
}

/* Descriptors the kernel never took stay in the ring (they cannot be taken
 * back once published): count this stream's as not sent. If a later kick
 * sends them, they carry this trial's id and count as foreign there. */
static uint32_t
xdp_tx_cancel(struct pgk_tx_stream *ts)
{
	const struct pgk_xsk *x = ts->xsk;
	const uint32_t me = (uint32_t)(ts - x->streams);
	uint32_t i, k = 0, cons = __atomic_load_n(x->tx.consumer, __ATOMIC_ACQUIRE);

	for (i = cons; i != *x->tx.producer; i++) {
		const uint64_t addr = xsk_ring_prod__tx_desc((struct xsk_ring_prod *)&x->tx, i)->addr;

		k += x->owner[((addr & x->chunk_mask) >> x->chunk_shift) - x->tx_chunk0] == me;
	}
	return k;
}

static uint32_t
xdp_rx_burst(const struct pg_rx *rx, struct pgk_rxq *q)
{
	struct pgk_xsk *x = q->xsk;
	const uint32_t pi = q->port_index;
	uint32_t i, idx = 0, fidx = 0, n;
	uint64_t now;

	n = xsk_ring_cons__peek(&x->rx, PG_BURST_MAX, &idx);
	if (n == 0) {
		/* only zero-copy drivers ask; copy mode fills from the sender's
		 * softirq, no wakeup needed */
		if (PG_UNLIKELY(xsk_ring_prod__needs_wakeup(&x->fill)))
			(void)recvfrom(x->fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
		return 0;
	}
	now = pgk_rdtsc();
	/* every RX chunk is in the fill ring, in the kernel's hands or in ours,
	 * so there is room for these n; but the kernel publishes the RX
	 * producer before the fill consumer (xsk_flush): on another CPU it may
	 * be between the two for a moment */
	while (PG_UNLIKELY(xsk_ring_prod__reserve(&x->fill, n, &fidx) != n))
		pgk_relax();
	for (i = 0; i < n; i++) {
		const struct xdp_desc *d = xsk_ring_cons__rx_desc(&x->rx, idx + i);

		pg_rx_account(rx, pi, x->area + d->addr, d->len, now);
		*xsk_ring_prod__fill_addr(&x->fill, fidx + i) = d->addr & x->chunk_mask;
	}
	xsk_ring_prod__submit(&x->fill, n);
	xsk_ring_cons__release(&x->rx, n);
	return n;
}

static const struct pgk_ops xdp_ops = {
	.tx_burst = xdp_tx_burst,
	.rx_burst = xdp_rx_burst,
	.tx_flush = xdp_tx_flush,
	.tx_cancel = xdp_tx_cancel,
};

/* Receive queues of the interface (ETHTOOL_GCHANNELS; 1 if it cannot say). */
static uint32_t
xdp_nb_queues(const struct pgk_port *p)
{
	struct ethtool_channels ch = { .cmd = ETHTOOL_GCHANNELS };
	struct ifreq ifr;
	uint32_t n;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", p->ifname);
	ifr.ifr_data = (void *)&ch;
	if (ioctl(p->ctl_fd, SIOCETHTOOL, &ifr) != 0)
		return 1;
	n = ch.rx_count + ch.combined_count;
	return n == 0 ? 1 : n;
}

/*
 * One socket on (port, queue): its UMEM holds nb_rx receive chunks (all in
 * the fill ring) then the TX chunks of every stream sending on this port
 * (queue 0 only), each filled with its stream's template.
 */
static int
xdp_socket(struct pgk_ctx *ctx, const struct pg_config *cfg, struct pgk_port *p, uint32_t pi,
	   uint32_t q, uint32_t chunk, const char *port)
{
	struct pgk_lcore *lc = &ctx->lc;
	struct pgk_xsk *x;
	struct xsk_umem_config ucfg;
	struct xsk_socket_config scfg;
	const uint32_t ring = cfg->ring_size;
	uint32_t nb_rx = p->receives ? ring : 0, nb_tx = 0, si, i, idx, c;
	int ret;

	x = calloc(1, sizeof(*x));
	if (x == NULL)
		return pgk_fail(NULL, -ENOMEM, "port %s: no memory", port);
	p->xsk[q] = x;
	x->fd = -1;
	x->port_index = pi;
	x->queue_id = q;
	x->streams = lc->tx;
	x->chunk_shift = (uint32_t)__builtin_ctz(chunk);
	x->chunk_mask = ~(uint64_t)(chunk - 1);
	x->has_rx = p->receives;
	if (q == 0)
		for (si = 0; si < cfg->nb_streams; si++)
			if (cfg->streams[si].tx_port == pi)
				nb_tx += ring;
	x->has_tx = nb_tx != 0;
	x->tx_chunk0 = nb_rx;
	x->area_len = (size_t)(nb_rx + nb_tx) * chunk;
	x->area = mmap(NULL, x->area_len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (x->area == MAP_FAILED) {
		x->area = NULL;
		return pgk_fail(NULL, -errno, "port %s queue %u: UMEM of %zu B: %s", port, q,
				x->area_len, strerror(errno));
	}
	x->owner = calloc(nb_tx ? nb_tx : 1, 1);
	if (x->owner == NULL)
		return pgk_fail(NULL, -ENOMEM, "port %s: no memory", port);

	memset(&ucfg, 0, sizeof(ucfg));
	ucfg.fill_size = nb_rx ? nb_rx : 64;
	ucfg.comp_size = nb_tx ? pgk_pow2(nb_tx) : 64;
	ucfg.frame_size = chunk;
	ret = xsk_umem__create(&x->umem, x->area, x->area_len, &x->fill, &x->comp, &ucfg);
	if (ret != 0) {
		x->umem = NULL;
		return pgk_fail(NULL, ret, "port %s queue %u: xsk_umem__create (%u chunks of %u B): %s",
				port, q, nb_rx + nb_tx, chunk, strerror(-ret));
	}
	memset(&scfg, 0, sizeof(scfg));
	scfg.rx_size = ring;
	scfg.tx_size = ring;
	/* pktlab attaches its own program, see pgk_xdp_attach */
	scfg.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD;
	scfg.bind_flags = XDP_USE_NEED_WAKEUP;	/* zero-copy if the driver can, else copy */
	ret = xsk_socket__create(&x->sock, p->ifname, q, x->umem, x->has_rx ? &x->rx : NULL,
				 x->has_tx ? &x->tx : NULL, &scfg);
	if (ret != 0) {
		x->sock = NULL;
		return pgk_fail(NULL, ret, "port %s queue %u: xsk_socket__create: %s", port, q,
				strerror(-ret));
	}
	x->fd = xsk_socket__fd(x->sock);
	if (x->has_tx) {
		/* one sendto may build every frame of a burst (default 32) */
		const uint32_t budget = ring;

		(void)setsockopt(x->fd, SOL_XDP, XDP_MAX_TX_SKB_BUDGET, &budget, sizeof(budget));
	}
	if (nb_rx) {
		if (xsk_ring_prod__reserve(&x->fill, nb_rx, &idx) != nb_rx)
			return pgk_fail(NULL, -ENOSPC, "port %s queue %u: fill ring refuses %u chunks",
					port, q, nb_rx);
		for (i = 0; i < nb_rx; i++)
			*xsk_ring_prod__fill_addr(&x->fill, idx + i) = (uint64_t)i * chunk;
		xsk_ring_prod__submit(&x->fill, nb_rx);
	}
	/* TX chunks: ring_size per stream, template written once */
	c = 0;
	for (si = 0; q == 0 && si < cfg->nb_streams; si++) {
		struct pgk_tx_stream *ts = &lc->tx[si];

		if (cfg->streams[si].tx_port != pi)
			continue;
		ts->xsk = x;
		ts->nb_chunks = ring;
		ts->free = calloc(ring, sizeof(*ts->free));
		if (ts->free == NULL)
			return pgk_fail(NULL, -ENOMEM, "stream %u: no memory", si);
		for (i = 0; i < ring; i++, c++) {
			const uint64_t addr = (uint64_t)(nb_rx + c) * chunk;

			memcpy(x->area + addr, ts->frame, ts->frame_len);
			x->owner[c] = (uint8_t)si;
			ts->free[ts->nb_free++] = addr;
		}
	}
	return 0;
}

/*
 * The XDP program: every frame to the socket of its receive queue, or on
 * to the stack if the queue has none (flags of bpf_redirect_map, 5.3+).
 *
 *	r2 = ctx->rx_queue_index
 *	r1 = &xsks_map
 *	r3 = XDP_PASS
 *	return bpf_redirect_map(r1, r2, r3)
 *
 * Attached with a bpf_link rather than netlink: a link is a file, closed
 * with the process whatever ends it, and the kernel detaches the program
 * then. libxdp's own loader attaches by netlink (the program outlives a
 * killed process until someone detaches it or the interface goes) and pins
 * its dispatcher in bpffs; the link needs neither.
 */
static int
pgk_xdp_attach(struct pgk_port *p, const char *port)
{
	char log[1024] = "";
	LIBBPF_OPTS(bpf_prog_load_opts, popts, .expected_attach_type = BPF_XDP,
		    .log_buf = log, .log_size = sizeof(log), .log_level = 1);
	LIBBPF_OPTS(bpf_link_create_opts, lopts);
	uint32_t q;
	int ret;

	p->xdp_map_fd = bpf_map_create(BPF_MAP_TYPE_XSKMAP, "pktlab_xsks", 4, 4,
				       p->nb_queues, NULL);
	if (p->xdp_map_fd < 0)
		return pgk_fail(NULL, -errno, "port %s: XSKMAP of %u: %s", port, p->nb_queues,
				strerror(errno));
	{
		const struct bpf_insn insns[] = {
			{ .code = BPF_LDX | BPF_MEM | BPF_W, .dst_reg = BPF_REG_2,
			  .src_reg = BPF_REG_1, .off = offsetof(struct xdp_md, rx_queue_index) },
			{ .code = BPF_LD | BPF_DW | BPF_IMM, .dst_reg = BPF_REG_1,
			  .src_reg = BPF_PSEUDO_MAP_FD, .imm = p->xdp_map_fd },
			{ 0 },	/* second half of the 64-bit immediate */
			{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_3,
			  .imm = XDP_PASS },
			{ .code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_redirect_map },
			{ .code = BPF_JMP | BPF_EXIT },
		};

		p->xdp_prog_fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "pktlab_xsk", "GPL", insns,
					       sizeof(insns) / sizeof(insns[0]), &popts);
	}
	if (p->xdp_prog_fd < 0)
		return pgk_fail(NULL, -errno, "port %s: loading the XDP program: %s%s%s", port,
				strerror(errno), log[0] ? "; verifier: " : "", log);
	for (q = 0; q < p->nb_queues; q++) {
		ret = xsk_socket__update_xskmap(p->xsk[q]->sock, p->xdp_map_fd);
		if (ret != 0)
			return pgk_fail(NULL, ret, "port %s queue %u: into the XSKMAP: %s", port, q,
					strerror(-ret));
	}
	/* native (driver) mode, the copy-mode fallback is the generic hook */
	lopts.flags = XDP_FLAGS_DRV_MODE;
	p->xdp_link_fd = bpf_link_create(p->xdp_prog_fd, p->ifindex, BPF_XDP, &lopts);
	p->xdp_how = "native";
	if (p->xdp_link_fd < 0) {
		const int native_err = errno;

		lopts.flags = XDP_FLAGS_SKB_MODE;
		p->xdp_link_fd = bpf_link_create(p->xdp_prog_fd, p->ifindex, BPF_XDP, &lopts);
		p->xdp_how = "generic";
		if (p->xdp_link_fd < 0)
			return pgk_fail(NULL, -errno, "port %s: attaching the XDP program: native "
					"mode: %s, generic mode: %s (another XDP program there?)",
					port, strerror(native_err), strerror(errno));
	}
	return 0;
}

static int
xdp_port_setup(struct pgk_ctx *ctx, const struct pg_config *cfg, struct pgk_port *p,
	       uint32_t pi, const char *port)
{
	uint32_t max_frame = 0, chunk, si, q;
	int ret;

	for (si = 0; si < cfg->nb_streams; si++) {
		const struct pg_stream_config *sc = &cfg->streams[si];

		if (sc->tx_port == pi || sc->rx_port == (int32_t)pi)
			max_frame = sc->frame_len > max_frame ? sc->frame_len : max_frame;
	}
	if (max_frame + 4 > PGK_XSK_MAX_FRAME)
		return pgk_fail(NULL, -EMSGSIZE, "port %s: %u-byte frames do not fit an AF_XDP "
				"chunk (at most %u B here, a tag included); use kernel_mode "
				"afpacket for jumbo frames", port, max_frame, PGK_XSK_MAX_FRAME - 4);
	/* 2 KiB chunks if the frame, a tag and the XDP headroom fit */
	chunk = max_frame + 4 + XDP_PACKET_HEADROOM <= 2048 ? 2048 : 4096;
	p->nb_queues = 1;
	if (p->receives) {
		/* a frame on a queue without a socket would miss us: one per queue */
		p->nb_queues = xdp_nb_queues(p);
		if (p->nb_queues > PGK_MAX_QUEUES)
			return pgk_fail(NULL, -EINVAL, "port %s has %u receive queues, pktlab binds "
					"at most %u (ethtool -L %s rx %u)", port, p->nb_queues,
					PGK_MAX_QUEUES, p->ifname, PGK_MAX_QUEUES);
	}
	for (q = 0; q < p->nb_queues; q++) {
		ret = xdp_socket(ctx, cfg, p, pi, q, chunk, port);
		if (ret != 0)
			return ret;
	}
	return p->receives ? pgk_xdp_attach(p, port) : 0;
}

/* ---- set-up ----------------------------------------------------------- */

static int
pgk_ifreq(struct pgk_port *p, unsigned long req, struct ifreq *ifr)
{
	memset(ifr, 0, sizeof(*ifr));
	snprintf(ifr->ifr_name, sizeof(ifr->ifr_name), "%s", p->ifname);
	return ioctl(p->ctl_fd, req, ifr) == 0 ? 0 : -errno;
}

static int
pgk_port_setup(struct pgk_ctx *ctx, const struct pg_config *cfg, uint32_t pi)
{
	struct pgk_port *p = &ctx->ports[pi];
	char port[IFNAMSIZ + NAME_MAX + 2];
	struct ifreq ifr;
	uint32_t si;
	int back, ret;

	ret = pgk_parse_port(p, pi, cfg->port_names[pi]);
	if (ret != 0)
		return ret;
	pgk_where(p, port, sizeof(port));
	if (p->netns[0]) {
		char path[sizeof(PGK_NETNS_DIR) + NAME_MAX + 1];

		snprintf(path, sizeof(path), "%s/%s", PGK_NETNS_DIR, p->netns);
		p->ns_fd = open(path, O_RDONLY | O_CLOEXEC);
		if (p->ns_fd < 0)
			return pgk_fail(NULL, -errno, "port %u: no network namespace '%s' (%s: %s)",
					pi, p->netns, path, strerror(errno));
	}
	for (si = 0; si < cfg->nb_streams; si++)
		if (cfg->streams[si].rx_port == (int32_t)pi)
			p->receives = 1;

	ret = pgk_enter(p, &back);
	if (ret != 0)
		return ret;
	p->ctl_fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (p->ctl_fd < 0) {
		ret = pgk_fail(NULL, -errno, "port %s: AF_PACKET socket: %s (need CAP_NET_RAW)",
			       port, strerror(errno));
		goto out;
	}
	ret = pgk_ifreq(p, SIOCGIFINDEX, &ifr);
	if (ret != 0) {
		ret = pgk_fail(NULL, ret, "port %u: no interface '%s' in %s%s (%s)", pi, p->ifname,
			       p->netns[0] ? "network namespace " : "this process's namespace",
			       p->netns, strerror(-ret));
		goto out;
	}
	p->ifindex = ifr.ifr_ifindex;
	ret = pgk_ifreq(p, SIOCGIFHWADDR, &ifr);
	if (ret == 0 && ifr.ifr_hwaddr.sa_family != 1 /* ARPHRD_ETHER */)
		ret = pgk_fail(NULL, -EINVAL, "port %s: not an Ethernet interface (ARPHRD %u)",
			       port, ifr.ifr_hwaddr.sa_family);
	else if (ret != 0)
		ret = pgk_fail(NULL, ret, "port %s: SIOCGIFHWADDR: %s", port, strerror(-ret));
	if (ret != 0)
		goto out;
	memcpy(p->mac, ifr.ifr_hwaddr.sa_data, 6);
	ret = pgk_ifreq(p, SIOCGIFMTU, &ifr);
	if (ret != 0) {
		ret = pgk_fail(NULL, ret, "port %s: SIOCGIFMTU: %s", port, strerror(-ret));
		goto out;
	}
	p->mtu = (uint32_t)ifr.ifr_mtu;
	/* the kernel refuses a frame longer than MTU + header (+ one tag) and an
	 * AF_PACKET ring stops at it: say so now */
	for (si = 0; si < cfg->nb_streams; si++) {
		const struct pg_stream_config *sc = &cfg->streams[si];
		const int tagged = sc->frame[12] == 0x81 && sc->frame[13] == 0x00;

		if (sc->tx_port == pi && sc->frame_len > p->mtu + PG_ETH_HLEN + 4 * tagged) {
			ret = pgk_fail(NULL, -EMSGSIZE, "stream %u: %u-byte frames need MTU %u on "
				       "port %s, it has %u", si, sc->frame_len,
				       sc->frame_len - PG_ETH_HLEN - 4 * tagged, port, p->mtu);
			goto out;
		}
	}

	if (p->receives) {
		/* the far end may rewrite MACs; we want every frame. Promiscuous
		 * as a membership of this socket: the kernel drops it when the
		 * socket goes, however the process ends. */
		struct packet_mreq mr = { .mr_ifindex = p->ifindex, .mr_type = PACKET_MR_PROMISC };

		if (setsockopt(p->ctl_fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)) != 0) {
			ret = pgk_fail(NULL, -errno, "port %s: promiscuous mode "
				       "(PACKET_ADD_MEMBERSHIP): %s", port, strerror(errno));
			goto out;
		}
	}
	if (ctx->mode == PGK_MODE_AFPACKET) {
		if (p->receives) {
			ret = pkt_rx_setup(p, cfg->ring_size, port);
			if (ret < 0)
				goto out;
		}
		for (si = 0; si < cfg->nb_streams; si++) {
			struct pgk_tx_stream *ts = &ctx->lc.tx[si];

			if (cfg->streams[si].tx_port != pi)
				continue;
			ret = pkt_tx_setup(ts, p, cfg->ring_size, port);
			if (ret != 0)
				goto out;
		}
		ret = 0;
	} else {
		ret = xdp_port_setup(ctx, cfg, p, pi, port);
	}
out:
	pgk_leave(back);
	return ret;
}

static int
pgk_check_config(const struct pg_config *cfg, const struct pgk_options *opt)
{
	char why[PG_ERRMSG_LEN];
	uint32_t i, j;

	if (opt == NULL || (opt->mode != PGK_MODE_AFPACKET && opt->mode != PGK_MODE_AFXDP))
		return pgk_fail(NULL, -EINVAL, "mode %u: need PGK_MODE_AFPACKET (%u) or "
				"PGK_MODE_AFXDP (%u)", opt ? opt->mode : 0, PGK_MODE_AFPACKET,
				PGK_MODE_AFXDP);
	if (pg_config_check(cfg, why, sizeof(why)) != 0)
		return pgk_fail(NULL, -EINVAL, "%s", why);
	if (cfg->nb_lcores > 1)
		return pgk_fail(NULL, -EINVAL, "nb_lcores %u: the kernel backend runs one loop",
				cfg->nb_lcores);
	if (opt->mode == PGK_MODE_AFXDP && (cfg->ring_size & (cfg->ring_size - 1)))
		return pgk_fail(NULL, -EINVAL, "ring_size %u: AF_XDP rings need a power of two",
				cfg->ring_size);
	for (i = 0; i < cfg->nb_ports; i++)
		for (j = 0; j < i; j++)
			if (cfg->port_names[i] && cfg->port_names[j] &&
			    !strcmp(cfg->port_names[i], cfg->port_names[j]))
				return pgk_fail(NULL, -EINVAL, "ports %u and %u are both '%s'", j,
						i, cfg->port_names[i]);
	return 0;
}

static void
pgk_describe(struct pgk_ctx *ctx)
{
	size_t n = 0;
	uint32_t i;

	if (ctx->mode == PGK_MODE_AFPACKET) {
		snprintf(ctx->desc, sizeof(ctx->desc), "afpacket: TPACKET_V2 rings, qdisc bypass");
		return;
	}
	n += (size_t)snprintf(ctx->desc, sizeof(ctx->desc), "afxdp:");
	for (i = 0; i < ctx->nb_ports && n < sizeof(ctx->desc); i++) {
		const struct pgk_port *p = &ctx->ports[i];
		struct xdp_options xo = { 0 };
		socklen_t len = sizeof(xo);
		const char *copy = "?";

		if (p->xsk[0] != NULL &&
		    getsockopt(p->xsk[0]->fd, SOL_XDP, XDP_OPTIONS, &xo, &len) == 0)
			copy = (xo.flags & XDP_OPTIONS_ZEROCOPY) ? "zero-copy" : "copy";
		n += (size_t)snprintf(ctx->desc + n, sizeof(ctx->desc) - n,
				      "%s %s %s mode, %u queue%s, XDP %s", i ? ";" : "",
				      p->ifname, copy, p->nb_queues, p->nb_queues > 1 ? "s" : "",
				      p->receives ? p->xdp_how : "not needed (TX only)");
	}
}

int
pgk_create(const struct pg_config *cfg, const struct pgk_options *opt, struct pgk_ctx **ctxp)
{
	struct pgk_ctx *ctx;
	uint32_t i, q;
	int ret;

	*ctxp = NULL;
	pgk_global_err[0] = '\0';
	ret = pgk_check_config(cfg, opt);
	if (ret != 0)
		return ret;
	ctx = aligned_alloc(PGK_CACHE_LINE, (sizeof(*ctx) + PGK_CACHE_LINE - 1) &
			    ~(size_t)(PGK_CACHE_LINE - 1));
	if (ctx == NULL)
		return pgk_fail(NULL, -ENOMEM, "no memory for the context (%zu B)", sizeof(*ctx));
	memset(ctx, 0, sizeof(*ctx));
	ctx->mode = opt->mode;
	ctx->nb_ports = cfg->nb_ports;
	ctx->lc.nb_streams = cfg->nb_streams;
	ctx->lc.nb_sched = pg_sched_build(cfg->streams, cfg->nb_streams, ctx->lc.sched);
	ctx->lc.burst = cfg->burst;
	ctx->lc.ops = opt->mode == PGK_MODE_AFXDP ? &xdp_ops : &pkt_ops;
	for (i = 0; i < PG_MAX_PORTS; i++) {
		struct pgk_port *p = &ctx->ports[i];

		p->ns_fd = p->ctl_fd = p->rx_fd = -1;
		p->xdp_map_fd = p->xdp_prog_fd = p->xdp_link_fd = -1;
	}
	for (i = 0; i < PG_MAX_STREAMS; i++)
		ctx->lc.tx[i].fd = -1;

	/* templates first: a bad one fails before any interface is touched */
	for (i = 0; i < cfg->nb_streams; i++) {
		const struct pg_stream_config *sc = &cfg->streams[i];
		struct pgk_tx_stream *ts = &ctx->lc.tx[i];
		struct pg_rxs *rs = &ctx->lc.rxs[i];
		char why[PG_ERRMSG_LEN - 32];

		ret = pg_txs_prepare(&ts->txs, sc->frame, sc->frame_len, sc->nb_flows, sc->vary,
				     why, sizeof(why));
		if (ret != 0) {
			pgk_fail(NULL, ret, "stream %u: %s", i, why);
			goto fail;
		}
		ts->port_index = sc->tx_port;
		ts->frame_len = sc->frame_len;
		ts->frame = malloc(sc->frame_len);
		rs->rx_port = sc->rx_port;
		if (sc->rx_port >= 0)
			rs->seen = aligned_alloc(PGK_CACHE_LINE, PG_SEEN_BITS / 8);
		if (ts->frame == NULL || (sc->rx_port >= 0 && rs->seen == NULL)) {
			ret = pgk_fail(NULL, -ENOMEM, "stream %u: no memory", i);
			goto fail;
		}
		memcpy(ts->frame, sc->frame, sc->frame_len);
		if (rs->seen)
			memset(rs->seen, 0, PG_SEEN_BITS / 8);
	}
	pgk_tsc_hz();
	for (i = 0; i < cfg->nb_ports; i++) {
		ret = pgk_port_setup(ctx, cfg, i);
		if (ret != 0)
			goto fail;
	}
	/* poll only ports some stream expects frames on, every queue of them */
	for (i = 0; i < cfg->nb_ports; i++) {
		struct pgk_port *p = &ctx->ports[i];

		if (!p->receives)
			continue;
		if (ctx->mode == PGK_MODE_AFPACKET) {
			struct pgk_rxq *rq = &ctx->lc.rxq[ctx->lc.nb_rxq++];

			rq->port_index = i;
			rq->ring = p->rx_ring;
			rq->nb_slots = (uint32_t)(p->rx_ring_len / PGK_RX_SLOT);
			continue;
		}
		for (q = 0; q < p->nb_queues; q++) {
			struct pgk_rxq *rq = &ctx->lc.rxq[ctx->lc.nb_rxq++];

			rq->port_index = i;
			rq->xsk = p->xsk[q];
		}
	}
	ctx->lc.rx.nb_streams = cfg->nb_streams;
	ctx->lc.rx.rxs = ctx->lc.rxs;
	ctx->lc.rx.sst = ctx->lc.stats.streams;	/* one loop: no sub-streams */
	ctx->lc.rx.stats = &ctx->lc.stats;
	pgk_describe(ctx);
	pgk_begin_trial(ctx);
	*ctxp = ctx;
	return 0;
fail:
	pgk_destroy(ctx);
	return ret;
}

static void
pgk_close(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void
xdp_socket_free(struct pgk_xsk *x)
{
	if (x == NULL)
		return;
	if (x->sock != NULL)
		xsk_socket__delete(x->sock);
	if (x->umem != NULL)
		xsk_umem__delete(x->umem);
	if (x->area != NULL)
		munmap(x->area, x->area_len);
	free(x->owner);
	free(x);
}

void
pgk_destroy(struct pgk_ctx *ctx)
{
	uint32_t i, q;

	if (ctx == NULL)
		return;
	pg_sig_release(&ctx->lc.stop);
	for (i = 0; i < PG_MAX_PORTS; i++) {
		struct pgk_port *p = &ctx->ports[i];

		/* closing the link detaches the program (so does the process
		 * dying, and deleting the interface) */
		pgk_close(&p->xdp_link_fd);
		pgk_close(&p->xdp_prog_fd);
		pgk_close(&p->xdp_map_fd);
		for (q = 0; q < PGK_MAX_QUEUES; q++)
			xdp_socket_free(p->xsk[q]);
		if (p->rx_ring != NULL)
			munmap(p->rx_ring, p->rx_ring_len);
		pgk_close(&p->rx_fd);
		pgk_close(&p->ctl_fd);	/* and with it its promiscuous membership */
		pgk_close(&p->ns_fd);
	}
	for (i = 0; i < PG_MAX_STREAMS; i++) {
		struct pgk_tx_stream *ts = &ctx->lc.tx[i];

		if (ts->ring != NULL)
			munmap(ts->ring, ts->ring_len);
		pgk_close(&ts->fd);
		free(ts->free);
		free(ts->frame);
		free(ctx->lc.rxs[i].seen);
	}
	free(ctx);
}

const char *
pgk_description(const struct pgk_ctx *ctx)
{
	return ctx->desc;
}

int
pgk_port_info(struct pgk_ctx *ctx, uint32_t pi, uint32_t *ifindex, uint8_t *mac)
{
	if (pi >= ctx->nb_ports)
		return pgk_fail(ctx, -EINVAL, "port index %u >= %u", pi, ctx->nb_ports);
	*ifindex = (uint32_t)ctx->ports[pi].ifindex;
	memcpy(mac, ctx->ports[pi].mac, 6);
	return 0;
}

int
pgk_link_up(struct pgk_ctx *ctx, uint32_t pi)
{
	struct pgk_port *p;
	struct ifreq ifr;
	int ret;

	if (pi >= ctx->nb_ports)
		return pgk_fail(ctx, -EINVAL, "port index %u >= %u", pi, ctx->nb_ports);
	p = &ctx->ports[pi];
	/* the socket was made in the port's namespace: its ioctls look there */
	ret = pgk_ifreq(p, SIOCGIFFLAGS, &ifr);
	if (ret != 0)
		return pgk_fail(ctx, ret, "port %u (%s): SIOCGIFFLAGS: %s", pi, p->ifname,
				strerror(-ret));
	return (ifr.ifr_flags & (IFF_UP | IFF_RUNNING)) == (IFF_UP | IFF_RUNNING);
}

/* Frames the kernel dropped on the way into our receive rings, cumulative. */
static uint64_t
pgk_kernel_drops(struct pgk_ctx *ctx, struct pgk_port *p)
{
	uint64_t drops = 0;
	uint32_t q;

	if (p->rx_fd >= 0) {
		struct tpacket_stats st;
		socklen_t len = sizeof(st);

		/* since the last read: reading resets them (pgk_port_drops
		 * keeps the running total) */
		if (getsockopt(p->rx_fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0)
			drops = st.tp_drops;
		return drops;
	}
	for (q = 0; q < p->nb_queues; q++) {
		struct xdp_statistics st;
		socklen_t len = sizeof(st);

		if (p->xsk[q] && p->xsk[q]->has_rx &&
		    getsockopt(p->xsk[q]->fd, SOL_XDP, XDP_STATISTICS, &st, &len) == 0)
			drops += st.rx_dropped + st.rx_ring_full + st.rx_fill_ring_empty_descs;
	}
	(void)ctx;
	return drops;
}

int
pgk_port_drops(struct pgk_ctx *ctx, uint32_t pi, uint64_t *drops)
{
	struct pgk_port *p;

	if (pi >= ctx->nb_ports)
		return pgk_fail(ctx, -EINVAL, "port index %u >= %u", pi, ctx->nb_ports);
	p = &ctx->ports[pi];
	if (p->rx_fd >= 0) {
		p->drops_base += pgk_kernel_drops(ctx, p);	/* since the last read */
		*drops = p->drops_base;
	} else {
		*drops = pgk_kernel_drops(ctx, p) - p->drops_base;
	}
	return 0;
}

int
pgk_begin_trial(struct pgk_ctx *ctx)
{
	struct pgk_lcore *lc = &ctx->lc;
	struct pg_stats *st = &lc->stats;
	uint32_t i;

	ctx->trial_id++;
	memset(st, 0, sizeof(*st));
	st->tsc_hz = pgk_hz;
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
	for (i = 0; i < ctx->nb_ports; i++) {
		struct pgk_port *p = &ctx->ports[i];

		/* AF_PACKET counts since the last read (read now: zero),
		 * AF_XDP since the socket was made (remember where we are) */
		if (p->rx_fd >= 0) {
			pgk_kernel_drops(ctx, p);
			p->drops_base = 0;
		} else {
			p->drops_base = pgk_kernel_drops(ctx, p);
		}
	}
	return ctx->trial_id;
}

int
pgk_account_frame(struct pgk_ctx *ctx, uint32_t pi, const uint8_t *frame, uint32_t len,
		  uint64_t now_tsc)
{
	if (pi >= ctx->nb_ports)
		return pgk_fail(ctx, -EINVAL, "port index %u >= %u", pi, ctx->nb_ports);
	return pg_rx_account(&ctx->lc.rx, pi, frame, len, now_tsc);
}

/* ---- the loop --------------------------------------------------------- */

static inline uint32_t
pgk_rx_all(struct pgk_lcore *lc)
{
	uint32_t r, got = 0;

	for (r = 0; r < lc->nb_rxq; r++)
		got += lc->ops->rx_burst(&lc->rx, &lc->rxq[r]);
	return got;
}

/* Every stream that expects frames back has them all. */
static int
pgk_all_received(const struct pgk_lcore *lc)
{
	uint32_t i;

	for (i = 0; i < lc->nb_streams; i++)
		if (lc->rxs[i].rx_port >= 0 &&
		    lc->stats.streams[i].unique < lc->stats.streams[i].tx)
			return 0;
	return 1;
}

int
pgk_run_trial(struct pgk_ctx *ctx, const struct pg_trial *trial)
{
	struct pgk_lcore *lc = &ctx->lc;
	const struct pgk_ops *ops = lc->ops;
	const uint64_t hz = pgk_hz;
	struct pg_pace pace;
	uint64_t rate_fp, window, tx_cycles, drain_cycles, start, now, end;
	uint32_t nb_streams, burst, s = 0, pending;

	if (!(trial->duration_s > 0 && trial->duration_s < 1e6) ||
	    !(trial->drain_s >= 0 && trial->drain_s < 1e6) ||
	    !(trial->rate_pps >= 0 && trial->rate_pps < 1e12))
		return pgk_fail(ctx, -EINVAL, "trial: duration %g s, drain %g s, rate %g pps out of "
				"range", trial->duration_s, trial->drain_s, trial->rate_pps);

	pgk_begin_trial(ctx);
	/* the rate in 48.16 fixed point and the window in TSC terms, before the loop */
	rate_fp = (uint64_t)(trial->rate_pps * 65536.0 + 0.5);
	/* what a paced window sends: rate x duration, whatever the TSC
	 * frequency (a calibrated one is not round, and truncating the
	 * window to whole cycles would lose the last frame) */
	window = (uint64_t)(trial->rate_pps * trial->duration_s + 0.5);
	tx_cycles = (uint64_t)(trial->duration_s * (double)hz);
	drain_cycles = (uint64_t)(trial->drain_s * (double)hz);
	nb_streams = lc->nb_streams;
	burst = lc->burst;

	start = pgk_rdtsc();
	pg_pace_init(&pace, start, tx_cycles, hz, rate_fp, window, burst);
	now = start;
	while (PG_LIKELY(!lc->stop)) {
		uint32_t n;

		now = pgk_rdtsc();
		if (!pg_pace_next(&pace, &now, &n))
			break;
		if (n != 0) {
			const uint32_t si = lc->sched[s];

			pace.built += ops->tx_burst(&lc->tx[si], &lc->stats.streams[si], n, now);
			if (++s == lc->nb_sched)
				s = 0;
		}
		pgk_rx_all(lc);
	}
	lc->stats.tx_cycles = now - start;

	/* frames built in the window that the kernel has not taken yet (send
	 * buffer full, device busy): kick for 10 ms, then take them back */
	end = pgk_rdtsc() + hz / PGK_FLUSH_DIV;
	do {
		pending = 0;
		for (s = 0; s < nb_streams; s++)
			pending += ops->tx_flush(&lc->tx[s]);
		pgk_rx_all(lc);
	} while (pending != 0 && !lc->stop && pgk_rdtsc() < end);
	for (s = 0; s < nb_streams && pending != 0; s++) {
		const uint32_t k = ops->tx_cancel(&lc->tx[s]);

		lc->stats.streams[s].tx -= k;
		lc->stats.streams[s].tx_dropped += k;
	}

	/* keep receiving so frames in flight are counted, not lost */
	now = pgk_rdtsc();
	start = now;
	end = now + drain_cycles;
	while (lc->nb_rxq != 0 && !lc->stop && now < end) {
		if (pgk_rx_all(lc) == 0 && pgk_all_received(lc))
			break;
		now = pgk_rdtsc();
	}
	lc->stats.drain_cycles = now - start;
	lc->stats.interrupted = lc->stop != 0;
	return 0;
}

void
pgk_stop(struct pgk_ctx *ctx)
{
	ctx->lc.stop = 1;
}

int
pgk_read_stats(struct pgk_ctx *ctx, struct pg_stats *out)
{
	uint32_t i;

	memcpy(out, &ctx->lc.stats, sizeof(*out));
	for (i = 0; i < ctx->lc.nb_streams; i++)
		out->ports[ctx->lc.tx[i].port_index].tx += out->streams[i].tx;
	return 0;
}

int
pgk_catch_signals(struct pgk_ctx *ctx, int wake_fd)
{
	const int ret = pg_sig_catch(&ctx->lc.stop, wake_fd);

	return ret == 0 ? 0 : pgk_fail(ctx, ret, "sigaction: %s", strerror(-ret));
}

int
pgk_signal_caught(void)
{
	return pg_sig_caught_signo();
}
