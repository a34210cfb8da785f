/*
 * pg_afxdp.c - AF_XDP backend: libxdp's xsk rings on a UMEM per (port,
 * queue). Loop l sends from the socket on queue l of a port (one sendto per
 * burst: copy mode on veth has no other way) and receives on the sockets of
 * queues q with q % loops == l, fed by the XDP program of pg_xdp_prog.c that
 * redirects every frame to the socket of its queue.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <linux/ethtool.h>
#include <linux/if_xdp.h>
#include <linux/sockios.h>

#include <xdp/xsk.h>

#include "pg_kernel.h"
#include "pg_tsc.h"

/* largest frame one UMEM chunk takes (4096 less the XDP headroom and the
 * skb_shared_info a copy-mode driver keeps after the data) */
#define PG_XSK_MAX_FRAME 3498
#ifndef XDP_MAX_TX_SKB_BUDGET
#define XDP_MAX_TX_SKB_BUDGET 9		/* Linux 6.17: frames one sendto may send */
#endif

/* One AF_XDP socket, on (port, queue), with its own UMEM. */
struct pg_xsk {
	struct xsk_ring_cons rx;
	struct xsk_ring_prod fill;
	struct xsk_ring_prod tx;
	struct xsk_ring_cons comp;
	uint8_t *area;		/* the UMEM */
	uint64_t chunk_mask;	/* ~(chunk size - 1) */
	uint32_t chunk_shift;
	uint32_t tx_chunk0;	/* first TX chunk; RX chunks come before */
	uint8_t *owner;		/* TX chunk - tx_chunk0 -> slot in tx[] */
	struct pg_xdp_tx *txs[PG_MAX_STREAMS];	/* the streams sending here */
	int fd;
	uint32_t queue_id;
	uint32_t has_rx;
	uint32_t has_tx;
	size_t area_len;
	struct xsk_umem *umem;
	struct xsk_socket *sock;
};

/* ---- the loop's I/O --------------------------------------------------------- */

/* Completed TX chunks back to the streams that own them. */
static inline void
xdp_complete(struct pg_xsk *x)
{
	uint32_t i, idx, n;

	n = xsk_ring_cons__peek(&x->comp, UINT32_MAX, &idx);
	if (n == 0)
		return;
	for (i = 0; i < n; i++) {
		const uint64_t addr = *xsk_ring_cons__comp_addr(&x->comp, idx + i) & x->chunk_mask;
		struct pg_xdp_tx *ts = x->txs[x->owner[(addr >> x->chunk_shift) - x->tx_chunk0]];

		ts->free[ts->nb_free++] = addr;
	}
	xsk_ring_cons__release(&x->comp, n);
}

static inline void
xdp_kick(struct pg_xsk *x)
{
	/* copy mode (veth) always wants the kick: the kernel builds and sends
	 * the skbs inside this call. Errors: the frames stay queued and go with
	 * the next kick. */
	if (xsk_ring_prod__needs_wakeup(&x->tx))
		(void)sendto(x->fd, NULL, 0, MSG_DONTWAIT, NULL, 0);
}

static uint32_t
xdp_tx_burst(struct pg_tx *tx, struct pg_stream_stats *st, uint32_t n, uint64_t now)
{
	struct pg_xdp_tx *ts = tx->io;
	struct pg_xsk *x = ts->xsk;
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
	pg_txs_stamp(&tx->txs, frames, n, now);
	for (i = 0; i < n; i++) {
		struct xdp_desc *d = xsk_ring_prod__tx_desc(&x->tx, idx + i);

		d->addr = addrs[i];
		d->len = ts->frame_len;
		d->options = 0;
	}
	xsk_ring_prod__submit(&x->tx, n);
	xdp_kick(x);
	return n;
}

static inline uint32_t
xdp_tx_queued(const struct pg_xsk *x)
{
	return *x->tx.producer - __atomic_load_n(x->tx.consumer, __ATOMIC_ACQUIRE);
}

static uint32_t
xdp_tx_flush(struct pg_tx *tx)
{
	struct pg_xsk *x = ((struct pg_xdp_tx *)tx->io)->xsk;

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
xdp_tx_cancel(struct pg_tx *tx)
{
	const struct pg_xdp_tx *ts = tx->io;
	const struct pg_xsk *x = ts->xsk;
	uint32_t i, k = 0, cons = __atomic_load_n(x->tx.consumer, __ATOMIC_ACQUIRE);

	for (i = cons; i != *x->tx.producer; i++) {
		const uint64_t addr = xsk_ring_prod__tx_desc((struct xsk_ring_prod *)&x->tx, i)->addr;

		k += x->owner[((addr & x->chunk_mask) >> x->chunk_shift) - x->tx_chunk0] == ts->slot;
	}
	return k;
}

static uint32_t
xdp_rx_burst(const struct pg_rx *rx, struct pg_rxq *q)
{
	struct pg_xsk *x = q->io;
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
	now = pg_tsc_read();
	/* every RX chunk is in the fill ring, in the kernel's hands or in ours,
	 * so there is room for these n; but the kernel publishes the RX
	 * producer before the fill consumer (xsk_flush): on another CPU it may
	 * be between the two for a moment */
	while (PG_UNLIKELY(xsk_ring_prod__reserve(&x->fill, n, &fidx) != n))
		pg_tsc_relax();
	for (i = 0; i < n; i++) {
		const struct xdp_desc *d = xsk_ring_cons__rx_desc(&x->rx, idx + i);

		pg_rx_account(rx, pi, x->area + d->addr, d->len, now);
		*xsk_ring_prod__fill_addr(&x->fill, fidx + i) = d->addr & x->chunk_mask;
	}
	xsk_ring_prod__submit(&x->fill, n);
	xsk_ring_cons__release(&x->rx, n);
	pg_rx_burst_done(rx, pi, n);
	return n;
}

static const struct pg_io xdp_io = {
	.tx_burst = xdp_tx_burst,
	.rx_burst = xdp_rx_burst,
	.tx_flush = xdp_tx_flush,
	.tx_cancel = xdp_tx_cancel,
};

/* ---- set-up ------------------------------------------------------------------- */

#define PG_BAD(...) do { snprintf(err, err_len, __VA_ARGS__); return -EINVAL; } while (0)

static int
xdp_check(const struct pg_config *cfg, char *err, size_t err_len)
{
	if (cfg->ring_size & (cfg->ring_size - 1))
		PG_BAD("ring_size %u: AF_XDP rings need a power of two", cfg->ring_size);
	return pg_kernel_check(cfg, err, err_len);
}

/* Queues of the interface (ETHTOOL_GCHANNELS; 1 if it cannot say): receive
 * queues, or transmit queues with tx set. */
static uint32_t
xdp_nb_queues(const struct pg_kport *p, int tx)
{
	struct ethtool_channels ch = { .cmd = ETHTOOL_GCHANNELS };
	struct ifreq ifr;
	uint32_t n;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", p->ifname);
	ifr.ifr_data = (void *)&ch;
	if (ioctl(p->ctl_fd, SIOCETHTOOL, &ifr) != 0)
		return 1;
	n = (tx ? ch.tx_count : ch.rx_count) + ch.combined_count;
	return n == 0 ? 1 : n;
}

/* The UMEM of a socket and its rings: nb_rx receive chunks (all in the fill
 * ring) then nb_tx TX chunks. */
static int
xdp_umem(struct pg_xsk *x, uint32_t nb_rx, uint32_t nb_tx, uint32_t chunk, const char *port)
{
	struct xsk_umem_config ucfg;
	int ret;

	x->area_len = (size_t)(nb_rx + nb_tx) * chunk;
	x->area = mmap(NULL, x->area_len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (x->area == MAP_FAILED) {
		x->area = NULL;
		return pg_fail(NULL, -errno, "port %s queue %u: UMEM of %zu B: %s", port,
			       x->queue_id, x->area_len, strerror(errno));
	}
	x->owner = calloc(nb_tx ? nb_tx : 1, 1);
	if (x->owner == NULL)
		return pg_fail(NULL, -ENOMEM, "port %s: no memory", port);
	memset(&ucfg, 0, sizeof(ucfg));
	ucfg.fill_size = nb_rx ? nb_rx : 64;
	ucfg.comp_size = nb_tx ? pg_pow2(nb_tx) : 64;
	ucfg.frame_size = chunk;
	ret = xsk_umem__create(&x->umem, x->area, x->area_len, &x->fill, &x->comp, &ucfg);
	if (ret != 0) {
		x->umem = NULL;
		return pg_fail(NULL, ret, "port %s queue %u: xsk_umem__create (%u chunks of %u B): %s",
			       port, x->queue_id, nb_rx + nb_tx, chunk, strerror(-ret));
	}
	return 0;
}

/*
 * One socket on (port, queue q): receive chunks if the port receives, and if
 * q is a loop's TX queue, ring_size TX chunks for each stream that loop sends
 * here, each filled with its stream's template.
 */
static int
xdp_socket(struct pg_ctx *ctx, const struct pg_config *cfg, struct pg_kport *p, uint32_t pi,
	   uint32_t q, uint32_t chunk)
{
	struct pg_kernel *k = pg_kernel_of(ctx);
	struct xsk_socket_config scfg;
	const uint32_t ring = cfg->ring_size;
	const uint32_t nb_rx = p->receives ? ring : 0;
	uint32_t nb_tx = 0, si, i, idx, c;
	struct pg_xsk *x;
	int ret;

	x = calloc(1, sizeof(*x));
	if (x == NULL)
		return pg_fail(NULL, -ENOMEM, "port %s: no memory", p->where);
	p->xsk[q] = x;
	x->fd = -1;
	x->queue_id = q;
	x->chunk_shift = (uint32_t)__builtin_ctz(chunk);
	x->chunk_mask = ~(uint64_t)(chunk - 1);
	x->has_rx = p->receives;
	if (q < ctx->nb_loops)
		for (si = 0; si < cfg->nb_streams; si++)
			nb_tx += cfg->streams[si].tx_port == pi ? ring : 0;
	x->has_tx = nb_tx != 0;
	x->tx_chunk0 = nb_rx;
	ret = xdp_umem(x, nb_rx, nb_tx, chunk, p->where);
	if (ret != 0)
		return ret;
	memset(&scfg, 0, sizeof(scfg));
	scfg.rx_size = ring;
	scfg.tx_size = ring;
	/* pktlab attaches its own program, see pg_xdp_attach */
	scfg.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD;
	scfg.bind_flags = XDP_USE_NEED_WAKEUP;	/* zero-copy if the driver can, else copy */
	ret = xsk_socket__create(&x->sock, p->ifname, q, x->umem, x->has_rx ? &x->rx : NULL,
				 x->has_tx ? &x->tx : NULL, &scfg);
	if (ret != 0) {
		x->sock = NULL;
		return pg_fail(NULL, ret, "port %s queue %u: xsk_socket__create: %s", p->where, q,
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
			return pg_fail(NULL, -ENOSPC, "port %s queue %u: fill ring refuses %u chunks",
				       p->where, q, nb_rx);
		for (i = 0; i < nb_rx; i++)
			*xsk_ring_prod__fill_addr(&x->fill, idx + i) = (uint64_t)i * chunk;
		xsk_ring_prod__submit(&x->fill, nb_rx);
	}
	/* TX chunks: ring_size per stream of loop q, template written once */
	c = 0;
	for (si = 0; x->has_tx && si < cfg->nb_streams; si++) {
		struct pg_xdp_tx *ts = &k->xdp_tx[q][si];
		const uint8_t slot = (uint8_t)si;

		if (cfg->streams[si].tx_port != pi)
			continue;
		ts->xsk = x;
		ts->slot = slot;
		ts->frame_len = cfg->streams[si].frame_len;
		x->txs[slot] = ts;
		ts->free = calloc(ring, sizeof(*ts->free));
		if (ts->free == NULL)
			return pg_fail(NULL, -ENOMEM, "stream %u: no memory", si);
		for (i = 0; i < ring; i++, c++) {
			const uint64_t addr = (uint64_t)(nb_rx + c) * chunk;

			memcpy(x->area + addr, ctx->frames[si], ts->frame_len);
			x->owner[c] = slot;
			ts->free[ts->nb_free++] = addr;
		}
		ctx->lc[q].tx[si].io = ts;
	}
	return 0;
}

/* Port pi, inside its namespace: a socket per queue, the program on it. */
static int
xdp_port_setup(struct pg_ctx *ctx, const struct pg_config *cfg, uint32_t pi)
{
	struct pg_kport *p = &pg_kernel_of(ctx)->ports[pi];
	uint32_t max_frame = 0, chunk, si, q, nb_txq;
	int ret;

	for (si = 0; si < cfg->nb_streams; si++) {
		const struct pg_stream_config *sc = &cfg->streams[si];

		if (sc->tx_port == pi || sc->rx_port == (int32_t)pi)
			max_frame = sc->frame_len > max_frame ? sc->frame_len : max_frame;
	}
	if (max_frame + 4 > PG_XSK_MAX_FRAME)
		return pg_fail(NULL, -EMSGSIZE, "port %s: %u-byte frames do not fit an AF_XDP "
			       "chunk (at most %u B here, a tag included); use kernel_mode "
			       "afpacket for jumbo frames", p->where, max_frame, PG_XSK_MAX_FRAME - 4);
	/* 2 KiB chunks if the frame, a tag and the XDP headroom fit */
	chunk = max_frame + 4 + XDP_PACKET_HEADROOM <= 2048 ? 2048 : 4096;
	p->nb_queues = 1;
	if (p->receives) {
		/* a frame on a queue without a socket would miss us: one per queue */
		p->nb_queues = xdp_nb_queues(p, 0);
		if (p->nb_queues > PG_KQUEUES)
			return pg_fail(NULL, -EINVAL, "port %s has %u receive queues, pktlab binds "
				       "at most %u (ethtool -L %s rx %u)", p->where, p->nb_queues,
				       PG_KQUEUES, p->ifname, PG_KQUEUES);
	}
	if (p->sends && ctx->nb_loops > 1) {
		/* each loop sends from a socket of its own, on a queue of its own */
		nb_txq = xdp_nb_queues(p, 1);
		if (nb_txq < ctx->nb_loops || ctx->nb_loops > PG_KQUEUES)
			return pg_fail(NULL, -EINVAL, "port %s: %u loops send on %u queues, the "
				       "device has %u (at most %u here); use kernel_mode afpacket "
				       "or fewer lcores", p->where, ctx->nb_loops, ctx->nb_loops,
				       nb_txq, PG_KQUEUES);
		p->nb_queues = p->nb_queues > ctx->nb_loops ? p->nb_queues : ctx->nb_loops;
	}
	for (q = 0; q < p->nb_queues; q++) {
		ret = xdp_socket(ctx, cfg, p, pi, q, chunk);
		if (ret != 0)
			return ret;
		if (p->receives && !pg_kernel_add_rxq(&ctx->lc[q % ctx->nb_loops], pi, p->xsk[q]))
			return pg_fail(NULL, -EINVAL, "port %s: too many receive queues", p->where);
	}
	return p->receives ? pg_xdp_attach(p) : 0;
}

static int
xdp_setup(struct pg_ctx *ctx, const struct pg_config *cfg)
{
	return pg_kernel_setup(ctx, cfg, xdp_port_setup);
}

void
pg_xsk_free(struct pg_xsk *x)
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

uint64_t
pg_xsk_drops(const struct pg_xsk *x)
{
	struct xdp_statistics st;
	socklen_t len = sizeof(st);

	if (x == NULL || !x->has_rx || getsockopt(x->fd, SOL_XDP, XDP_STATISTICS, &st, &len) != 0)
		return 0;
	return st.rx_dropped + st.rx_ring_full + st.rx_fill_ring_empty_descs;
}

int
pg_xsk_update_map(struct pg_xsk *x, int map_fd)
{
	return xsk_socket__update_xskmap(x->sock, map_fd);
}

static void
xdp_describe(struct pg_ctx *ctx, char *buf, size_t len)
{
	const struct pg_kernel *k = pg_kernel_of(ctx);
	char what[PG_ERRMSG_LEN - 64] = "";
	size_t n = 0;
	uint32_t i;

	for (i = 0; i < ctx->nb_ports && n < sizeof(what); i++) {
		const struct pg_kport *p = &k->ports[i];
		struct xdp_options xo = { 0 };
		socklen_t olen = sizeof(xo);
		const char *copy = "?";

		if (p->xsk[0] != NULL &&
		    getsockopt(p->xsk[0]->fd, SOL_XDP, XDP_OPTIONS, &xo, &olen) == 0)
			copy = (xo.flags & XDP_OPTIONS_ZEROCOPY) ? "zero-copy" : "copy";
		n += (size_t)snprintf(what + n, sizeof(what) - n, "%s%s %s mode, %u queue%s, XDP %s",
				      i ? "; " : "", p->ifname, copy, p->nb_queues,
				      p->nb_queues > 1 ? "s" : "",
				      p->receives ? p->xdp_how : "not needed (TX only)");
	}
	pg_kernel_describe(buf, len, "afxdp", what);
}

const struct pg_backend pg_afxdp_backend =
	PG_KERNEL_BACKEND("afxdp", &xdp_io, xdp_check, xdp_setup, xdp_describe);
