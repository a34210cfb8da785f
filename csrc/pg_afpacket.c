/*
 * pg_afpacket.c - AF_PACKET backend: TPACKET_V2 rings mmap'ed into the
 * process. One TX ring per stream and loop (every slot holds the stream's
 * template, as every mbuf of a DPDK pool does), PACKET_QDISC_BYPASS, one
 * sendto(MSG_DONTWAIT) per burst. One RX ring per port and loop, bound to
 * ETH_P_ALL, outgoing frames ignored, walked by slot status: no syscall at
 * all on receive. Several loops' RX rings on a port form a fanout group that
 * spreads flows by hash, as RSS spreads them over a NIC's queues.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <linux/if_ether.h>
#include <linux/if_packet.h>

#include "pg_kernel.h"
#include "pg_tsc.h"

#define PG_SNDBUF (16 << 20)	/* [B] skbs a TX socket may have in flight */
/* TX data follows the tpacket2 header (no PACKET_TX_HAS_OFF) */
#define PG_TX_DATA_OFF (TPACKET2_HDRLEN - sizeof(struct sockaddr_ll))
/* RX slot: header (the frame lands at tp_mac = 66) and the first 190 bytes
 * of the frame, the kernel truncates the rest. The stamp is within the first
 * 64 (68 tagged): copying less makes jumbo frames cheap. */
#define PG_RX_SLOT 256
#define PG_PAGE 4096u

/* ---- the loop's I/O --------------------------------------------------------- */

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
pkt_tx_burst(struct pg_tx *tx, struct pg_stream_stats *st, uint32_t n, uint64_t now)
{
	struct pg_pkt_tx *ts = tx->io;
	uint8_t *frames[PG_BURST_MAX];
	struct tpacket2_hdr *hdrs[PG_BURST_MAX];
	const uint32_t nb_slots = ts->nb_slots, slot_size = ts->slot_size;
	uint32_t i, slot = ts->head;

	for (i = 0; i < n; i++) {
		struct tpacket2_hdr *h = pkt_slot(ts->ring, slot_size, slot);

		if (PG_UNLIKELY(pkt_status(h) != TP_STATUS_AVAILABLE))
			break;	/* the kernel still holds it */
		hdrs[i] = h;
		frames[i] = (uint8_t *)h + PG_TX_DATA_OFF;
		if (++slot == nb_slots)
			slot = 0;
	}
	if (PG_UNLIKELY(i == 0)) {
		st->tx_nombuf++;
		pkt_kick(ts->fd);
		return 0;
	}
	n = i;
	pg_txs_stamp(&tx->txs, frames, n, now);
	for (i = 0; i < n; i++)
		pkt_set_status(hdrs[i], TP_STATUS_SEND_REQUEST);
	ts->head = slot;
	pkt_kick(ts->fd);
	return n;
}

/* Frames queued but not taken: a run of SEND_REQUEST (or WRONG_FORMAT,
 * where the kernel stopped) slots right behind head. */
static uint32_t
pkt_tx_queued(const struct pg_pkt_tx *ts)
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
pkt_tx_flush(struct pg_tx *tx)
{
	const struct pg_pkt_tx *ts = tx->io;

	if (pkt_tx_queued(ts) == 0)
		return 0;
	pkt_kick(ts->fd);
	return pkt_tx_queued(ts);
}

static uint32_t
pkt_tx_cancel(struct pg_tx *tx)
{
	struct pg_pkt_tx *ts = tx->io;
	const uint32_t k = pkt_tx_queued(ts);
	uint32_t i;

	/* the kernel's own head is at the oldest of them: ours goes back there */
	for (i = 0; i < k; i++) {
		ts->head = ts->head == 0 ? ts->nb_slots - 1 : ts->head - 1;
		pkt_set_status(pkt_slot(ts->ring, ts->slot_size, ts->head), TP_STATUS_AVAILABLE);
	}
	if (k)
		pg_txs_rewind(&tx->txs, k);
	return k;
}

static uint32_t
pkt_rx_burst(const struct pg_rx *rx, struct pg_rxq *q)
{
	struct pg_pkt_rx *r = q->io;
	const uint32_t nb_slots = r->nb_slots, pi = q->port_index;
	uint32_t i, slot = r->head;
	uint64_t now = 0;

	for (i = 0; i < PG_BURST_MAX; i++) {
		struct tpacket2_hdr *h = pkt_slot(r->ring, PG_RX_SLOT, slot);

		if (!(pkt_status(h) & TP_STATUS_USER))
			break;
		if (i == 0)
			now = pg_tsc_read();
		pg_rx_account(rx, pi, (const uint8_t *)h + h->tp_mac, h->tp_snaplen, now);
		pkt_set_status(h, TP_STATUS_KERNEL);
		if (++slot == nb_slots)
			slot = 0;
	}
	r->head = slot;
	if (i != 0)
		pg_rx_burst_done(rx, pi, i);
	return i;
}

static const struct pg_io pkt_io = {
	.tx_burst = pkt_tx_burst,
	.rx_burst = pkt_rx_burst,
	.tx_flush = pkt_tx_flush,
	.tx_cancel = pkt_tx_cancel,
};

/* ---- set-up ------------------------------------------------------------------- */

/* A TPACKET_V2 ring of at least nb frames of slot_size (a power of two) on
 * fd, mapped; returns the frame count. */
static int
pkt_ring(int fd, int which, uint32_t slot_size, uint32_t nb, uint8_t **ring, size_t *len,
	 const char *port)
{
	const uint32_t block = slot_size > PG_PAGE ? slot_size : PG_PAGE;
	const uint32_t per_block = block / slot_size;
	struct tpacket_req req;
	void *map;

	req.tp_block_size = block;
	req.tp_block_nr = (nb + per_block - 1) / per_block;
	req.tp_frame_size = slot_size;
	req.tp_frame_nr = req.tp_block_nr * per_block;
	if (setsockopt(fd, SOL_PACKET, which, &req, sizeof(req)) != 0)
		return pg_fail(NULL, -errno, "port %s: %s of %u x %u B: %s", port,
			       which == PACKET_TX_RING ? "PACKET_TX_RING" : "PACKET_RX_RING",
			       req.tp_frame_nr, slot_size, strerror(errno));
	*len = (size_t)req.tp_block_nr * block;
	map = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
	if (map == MAP_FAILED) {
		const int e = errno;

		pg_fail(NULL, -e, "port %s: mmap of a %zu-byte ring: %s", port, *len, strerror(e));
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
		return pg_fail(NULL, -errno, "port %s: bind AF_PACKET socket: %s", port,
			       strerror(errno));
	return 0;
}

/* A socket of ours on the port, TPACKET_V2, protocol 0 until bound: ETH_P_ALL
 * right away would queue frames from every interface in the namespace. */
static int
pkt_socket(int *fd, const char *port)
{
	const int v2 = TPACKET_V2;

	*fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (*fd < 0)
		return pg_fail(NULL, -errno, "port %s: AF_PACKET socket: %s", port, strerror(errno));
	return pg_kernel_setsockopt(*fd, SOL_PACKET, PACKET_VERSION, &v2, sizeof(v2),
				    "PACKET_VERSION TPACKET_V2", port);
}

/* Loop l's receive ring on the port: every frame the interface receives,
 * none it sends. With several loops the rings join one fanout group (the
 * first asks the kernel for a free group id, the others take it). */
static int
pkt_rx_setup(struct pg_kport *p, struct pg_pkt_rx *r, uint32_t l, uint32_t nb_loops,
	     uint32_t ring_size, uint32_t *fanout_id)
{
	const int one = 1;
	int ret;

	ret = pkt_socket(&r->fd, p->where);
	if (ret == 0)
		ret = pg_kernel_setsockopt(r->fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one,
					   sizeof(one), "PACKET_IGNORE_OUTGOING", p->where);
	if (ret != 0)
		return ret;
	ret = pkt_ring(r->fd, PACKET_RX_RING, PG_RX_SLOT, ring_size, &r->ring, &r->ring_len,
		       p->where);
	if (ret < 0)
		return ret;
	r->nb_slots = (uint32_t)(r->ring_len / PG_RX_SLOT);
	ret = pkt_bind(r->fd, p->ifindex, ETH_P_ALL, p->where);
	if (ret != 0 || nb_loops == 1)
		return ret;
	if (l == 0) {
		/* low 16 bits the group id (0: the kernel picks one), high 16 the type and flags */
		const int arg = (PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_UNIQUEID) << 16;
		int got = 0;
		socklen_t len = sizeof(got);

		ret = pg_kernel_setsockopt(r->fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof(arg),
					   "PACKET_FANOUT (hash, new group)", p->where);
		if (ret != 0)
			return ret;
		if (getsockopt(r->fd, SOL_PACKET, PACKET_FANOUT, &got, &len) != 0)
			return pg_fail(NULL, -errno, "port %s: getsockopt PACKET_FANOUT: %s",
				       p->where, strerror(errno));
		*fanout_id = (uint32_t)got & 0xffff;
		return 0;
	}
	{
		const int arg = (int)(*fanout_id | PACKET_FANOUT_HASH << 16);

		return pg_kernel_setsockopt(r->fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof(arg),
					    "PACKET_FANOUT (hash, join)", p->where);
	}
}

/* A stream's transmit ring for one loop, every slot holding its template. */
static int
pkt_tx_setup(struct pg_pkt_tx *ts, const struct pg_kport *p, const uint8_t *frame,
	     uint32_t ring_size)
{
	const int one = 1, sndbuf = PG_SNDBUF;
	uint32_t i;
	int ret;

	ret = pkt_socket(&ts->fd, p->where);	/* protocol 0: sends only */
	if (ret == 0)
		ret = pg_kernel_setsockopt(ts->fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one,
					   sizeof(one), "PACKET_QDISC_BYPASS", p->where);
	/* skbs in flight are charged to the socket: room for a full ring */
	if (ret == 0)
		ret = pg_kernel_setsockopt(ts->fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf,
					   sizeof(sndbuf), "SO_SNDBUFFORCE", p->where);
	if (ret != 0)
		return ret;
	ts->slot_size = pg_pow2((uint32_t)PG_TX_DATA_OFF + ts->frame_len);
	if (ts->slot_size < 128)
		ts->slot_size = 128;
	ret = pkt_ring(ts->fd, PACKET_TX_RING, ts->slot_size, ring_size, &ts->ring, &ts->ring_len,
		       p->where);
	if (ret < 0)
		return ret;
	ts->nb_slots = (uint32_t)ret;
	for (i = 0; i < ts->nb_slots; i++) {
		struct tpacket2_hdr *h = pkt_slot(ts->ring, ts->slot_size, i);

		memcpy((uint8_t *)h + PG_TX_DATA_OFF, frame, ts->frame_len);
		h->tp_len = ts->frame_len;
		h->tp_status = TP_STATUS_AVAILABLE;
	}
	return pkt_bind(ts->fd, p->ifindex, 0, p->where);
}

/* Port pi, inside its namespace: its rings for every loop. */
static int
pkt_port_setup(struct pg_ctx *ctx, const struct pg_config *cfg, uint32_t pi)
{
	struct pg_kernel *k = pg_kernel_of(ctx);
	struct pg_kport *p = &k->ports[pi];
	uint32_t l, si, fanout_id = 0;
	int ret;

	for (l = 0; l < ctx->nb_loops; l++) {
		struct pg_lcore *lc = &ctx->lc[l];

		if (p->receives) {
			ret = pkt_rx_setup(p, &p->pkt_rx[l], l, ctx->nb_loops, cfg->ring_size,
					   &fanout_id);
			if (ret != 0)
				return ret;
			pg_kernel_add_rxq(lc, pi, &p->pkt_rx[l]);
		}
		for (si = 0; si < cfg->nb_streams; si++) {
			struct pg_pkt_tx *ts = &k->pkt_tx[l][si];

			if (cfg->streams[si].tx_port != pi)
				continue;
			ts->frame_len = cfg->streams[si].frame_len;
			ret = pkt_tx_setup(ts, p, ctx->frames[si], cfg->ring_size);
			if (ret != 0)
				return ret;
			lc->tx[si].io = ts;
		}
	}
	return 0;
}

static int
pkt_setup(struct pg_ctx *ctx, const struct pg_config *cfg)
{
	return pg_kernel_setup(ctx, cfg, pkt_port_setup);
}

static void
pkt_describe(struct pg_ctx *ctx, char *buf, size_t len)
{
	char what[128];

	snprintf(what, sizeof(what), "TPACKET_V2 rings, qdisc bypass%s",
		 ctx->nb_loops > 1 ? ", RX rings in a hash fanout group per port" : "");
	pg_kernel_describe(buf, len, "afpacket", what);
}

const struct pg_backend pg_afpacket_backend =
	PG_KERNEL_BACKEND("afpacket", &pkt_io, pg_kernel_check, pkt_setup, pkt_describe);
