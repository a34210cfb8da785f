/*
 * pg_kernel.c - what both kernel backends (AF_PACKET, AF_XDP) do the same:
 * the ports (namespace, ifindex, MAC, MTU, promiscuous mode), the loops on
 * pinned threads, tear-down, and the kernel's receive drops.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/utsname.h>

#include <linux/if_packet.h>
#include <linux/sockios.h>

#include "pg_kernel.h"

void *
pg_kernel_zalloc(size_t len)
{
	void *p = aligned_alloc(PG_CACHE_LINE, (len + PG_CACHE_LINE - 1) & ~(size_t)(PG_CACHE_LINE - 1));

	if (p != NULL)
		memset(p, 0, len);
	return p;
}

void
pg_kernel_free(void *p)
{
	free(p);
}

#define PG_BAD(...) do { snprintf(err, err_len, __VA_ARGS__); return -EINVAL; } while (0)

int
pg_kernel_check(const struct pg_config *cfg, char *err, size_t err_len)
{
	uint32_t i, j;

	for (i = 0; i < cfg->nb_ports; i++)
		for (j = 0; j < i; j++)
			if (cfg->port_names[i] && cfg->port_names[j] &&
			    !strcmp(cfg->port_names[i], cfg->port_names[j]))
				PG_BAD("ports %u and %u are both '%s'", j, i, cfg->port_names[i]);
	return 0;
}

int
pg_kernel_setsockopt(int fd, int level, int name, const void *val, unsigned int len,
		     const char *what, const char *port)
{
	if (setsockopt(fd, level, name, val, len) != 0)
		return pg_fail(NULL, -errno, "port %s: setsockopt %s: %s", port, what, strerror(errno));
	return 0;
}

uint32_t
pg_pow2(uint32_t v)
{
	uint32_t p = 1;

	while (p < v)
		p <<= 1;
	return p;
}

struct pg_rxq *
pg_kernel_add_rxq(struct pg_lcore *lc, uint32_t pi, void *io)
{
	struct pg_rxq *q;

	if (lc->nb_rxq == PG_MAX_RXQ)
		return NULL;
	q = &lc->rxq[lc->nb_rxq++];
	q->port_index = pi;
	q->io = io;
	return q;
}

static int
pg_ifreq(struct pg_kport *p, unsigned long req, struct ifreq *ifr)
{
	memset(ifr, 0, sizeof(*ifr));
	snprintf(ifr->ifr_name, sizeof(ifr->ifr_name), "%s", p->ifname);
	return ioctl(p->ctl_fd, req, ifr) == 0 ? 0 : -errno;
}

/* Inside the port's namespace: what the interface is, whether its frames
 * fit, promiscuous mode if it receives. */
static int
pg_kport_probe(struct pg_kport *p, const struct pg_config *cfg, uint32_t pi)
{
	struct ifreq ifr;
	uint32_t si;
	int ret;

	p->ctl_fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (p->ctl_fd < 0)
		return pg_fail(NULL, -errno, "port %s: AF_PACKET socket: %s (need CAP_NET_RAW)",
			       p->where, strerror(errno));
	ret = pg_ifreq(p, SIOCGIFINDEX, &ifr);
	if (ret != 0)
		return pg_fail(NULL, ret, "port %u: no interface '%s' in %s%s (%s)", pi, p->ifname,
			       p->netns[0] ? "network namespace " : "this process's namespace",
			       p->netns, strerror(-ret));
	p->ifindex = ifr.ifr_ifindex;
	ret = pg_ifreq(p, SIOCGIFHWADDR, &ifr);
	if (ret != 0)
		return pg_fail(NULL, ret, "port %s: SIOCGIFHWADDR: %s", p->where, strerror(-ret));
	if (ifr.ifr_hwaddr.sa_family != 1 /* ARPHRD_ETHER */)
		return pg_fail(NULL, -EINVAL, "port %s: not an Ethernet interface (ARPHRD %u)",
			       p->where, ifr.ifr_hwaddr.sa_family);
	memcpy(p->mac, ifr.ifr_hwaddr.sa_data, 6);
	ret = pg_ifreq(p, SIOCGIFMTU, &ifr);
	if (ret != 0)
		return pg_fail(NULL, ret, "port %s: SIOCGIFMTU: %s", p->where, strerror(-ret));
	p->mtu = (uint32_t)ifr.ifr_mtu;
	/* the kernel refuses a frame longer than MTU + header (+ one tag) and an
	 * AF_PACKET ring stops at it: say so now */
	for (si = 0; si < cfg->nb_streams; si++) {
		const struct pg_stream_config *sc = &cfg->streams[si];
		const uint32_t tagged = sc->frame[12] == 0x81 && sc->frame[13] == 0x00;

		if (sc->tx_port == pi && sc->frame_len > p->mtu + PG_ETH_HLEN + 4 * tagged)
			return pg_fail(NULL, -EMSGSIZE, "stream %u: %u-byte frames need MTU %u on "
				       "port %s, it has %u", si, sc->frame_len,
				       sc->frame_len - PG_ETH_HLEN - 4 * tagged, p->where, p->mtu);
	}
	if (p->receives) {
		/* the far end may rewrite MACs; we want every frame. Promiscuous
		 * as a membership of this socket: the kernel drops it when the
		 * socket goes, however the process ends. */
		struct packet_mreq mr = { .mr_ifindex = p->ifindex, .mr_type = PACKET_MR_PROMISC };

		if (setsockopt(p->ctl_fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)) != 0)
			return pg_fail(NULL, -errno, "port %s: promiscuous mode "
				       "(PACKET_ADD_MEMBERSHIP): %s", p->where, strerror(errno));
	}
	return 0;
}

/* The calling thread runs loop 0: on lcores[0], as EAL's main lcore would. */
static int
pg_kernel_pin(uint32_t core)
{
	cpu_set_t set;
	int ret;

	CPU_ZERO(&set);
	CPU_SET(core, &set);
	ret = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	return ret == 0 ? 0 : pg_fail(NULL, -ret, "lcores[0]: cannot run on CPU %u: %s", core,
				      strerror(ret));
}

int
pg_kernel_setup(struct pg_ctx *ctx, const struct pg_config *cfg, pg_kport_setup_fn mode_setup)
{
	struct pg_kernel *k;
	uint32_t pi, si, l;
	int ret;

	if (cfg->nb_lcores >= 1) {
		ret = pg_kernel_pin(cfg->lcores[0]);
		if (ret != 0)
			return ret;
	}
	k = pg_kernel_zalloc(sizeof(*k));
	if (k == NULL)
		return pg_fail(NULL, -ENOMEM, "no memory for the ports (%zu B)", sizeof(*k));
	ctx->priv = k;
	for (pi = 0; pi < PG_MAX_PORTS; pi++) {
		struct pg_kport *p = &k->ports[pi];

		p->ns_fd = p->ctl_fd = -1;
		p->xdp_map_fd = p->xdp_prog_fd = p->xdp_link_fd = -1;
		for (l = 0; l < PG_MAX_LCORES; l++)
			p->pkt_rx[l].fd = -1;
	}
	for (l = 0; l < PG_MAX_LCORES; l++)
		for (si = 0; si < PG_MAX_STREAMS; si++)
			k->pkt_tx[l][si].fd = -1;

	for (pi = 0; pi < cfg->nb_ports; pi++) {
		struct pg_kport *p = &k->ports[pi];
		int back;

		ret = pg_netns_parse(p, pi, cfg->port_names[pi]);
		if (ret == 0)
			ret = pg_netns_open(p, pi);
		if (ret != 0)
			return ret;
		for (si = 0; si < cfg->nb_streams; si++) {
			p->receives |= cfg->streams[si].rx_port == (int32_t)pi;
			p->sends |= cfg->streams[si].tx_port == pi;
		}
		ret = pg_netns_enter(p, &back);
		if (ret != 0)
			return ret;
		ret = pg_kport_probe(p, cfg, pi);
		if (ret == 0)
			ret = mode_setup(ctx, cfg, pi);
		pg_netns_leave(back);
		if (ret != 0)
			return ret;
	}
	return 0;
}

static void
pg_close(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void
pg_kernel_teardown(struct pg_ctx *ctx)
{
	struct pg_kernel *k = ctx->priv;
	uint32_t i, l, q;

	if (k == NULL)
		return;
	for (i = 0; i < PG_MAX_PORTS; i++) {
		struct pg_kport *p = &k->ports[i];

		/* closing the link detaches the program (so does the process
		 * dying, and deleting the interface) */
		pg_close(&p->xdp_link_fd);
		pg_close(&p->xdp_prog_fd);
		pg_close(&p->xdp_map_fd);
		for (q = 0; q < PG_KQUEUES; q++)
			pg_xsk_free(p->xsk[q]);
		for (l = 0; l < PG_MAX_LCORES; l++) {
			if (p->pkt_rx[l].ring != NULL)
				munmap(p->pkt_rx[l].ring, p->pkt_rx[l].ring_len);
			pg_close(&p->pkt_rx[l].fd);
		}
		pg_close(&p->ctl_fd);	/* and with it its promiscuous membership */
		pg_close(&p->ns_fd);
	}
	for (l = 0; l < PG_MAX_LCORES; l++)
		for (i = 0; i < PG_MAX_STREAMS; i++) {
			struct pg_pkt_tx *t = &k->pkt_tx[l][i];

			if (t->ring != NULL)
				munmap(t->ring, t->ring_len);
			pg_close(&t->fd);
			free(k->xdp_tx[l][i].free);
		}
	free(k);
	ctx->priv = NULL;
}

int
pg_kernel_port_info(struct pg_ctx *ctx, uint32_t pi, uint32_t *port_id, uint8_t *mac)
{
	const struct pg_kport *p = &pg_kernel_of(ctx)->ports[pi];

	*port_id = (uint32_t)p->ifindex;
	memcpy(mac, p->mac, 6);
	return 0;
}

int
pg_kernel_link_up(struct pg_ctx *ctx, uint32_t pi)
{
	struct pg_kport *p = &pg_kernel_of(ctx)->ports[pi];
	struct ifreq ifr;
	int ret;

	/* the socket was made in the port's namespace: its ioctls look there */
	ret = pg_ifreq(p, SIOCGIFFLAGS, &ifr);
	if (ret != 0)
		return pg_fail(ctx, ret, "port %u (%s): SIOCGIFFLAGS: %s", pi, p->where,
			       strerror(-ret));
	return (ifr.ifr_flags & (IFF_UP | IFF_RUNNING)) == (IFF_UP | IFF_RUNNING);
}

/* Frames the kernel dropped on the way into our receive rings, so far. */
static uint64_t
pg_kernel_drops(struct pg_kport *p)
{
	uint64_t xsk = 0;
	uint32_t l, q;

	for (l = 0; l < PG_MAX_LCORES; l++) {
		struct tpacket_stats st;
		socklen_t len = sizeof(st);

		/* since the last read: reading resets them */
		if (p->pkt_rx[l].fd >= 0 &&
		    getsockopt(p->pkt_rx[l].fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0)
			p->drops += st.tp_drops;
	}
	for (q = 0; q < p->nb_queues; q++)
		xsk += pg_xsk_drops(p->xsk[q]);
	return p->drops + xsk;
}

uint64_t
pg_kernel_rx_missed(struct pg_ctx *ctx, uint32_t pi)
{
	struct pg_kport *p = &pg_kernel_of(ctx)->ports[pi];

	return pg_kernel_drops(p) - p->drops_base;
}

void
pg_kernel_begin_trial(struct pg_ctx *ctx)
{
	struct pg_kernel *k = pg_kernel_of(ctx);
	uint32_t i;

	for (i = 0; i < ctx->nb_ports; i++)
		k->ports[i].drops_base = pg_kernel_drops(&k->ports[i]);
}

static void *
pg_kthread_main(void *arg)
{
	struct pg_kthread *t = arg;

	t->fn(t->arg);
	return NULL;
}

/* Loop l on a thread of its own, pinned to its core before it runs. */
int
pg_kernel_launch(struct pg_ctx *ctx, uint32_t l, int (*fn)(void *), void *arg)
{
	struct pg_kthread *t = &pg_kernel_of(ctx)->threads[l];
	pthread_attr_t attr;
	cpu_set_t set;
	int ret;

	CPU_ZERO(&set);
	CPU_SET(ctx->lc[l].lcore_id, &set);
	t->fn = fn;
	t->arg = arg;
	pthread_attr_init(&attr);
	ret = pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
	if (ret == 0)
		ret = pthread_create(&t->tid, &attr, pg_kthread_main, t);
	pthread_attr_destroy(&attr);
	if (ret != 0)
		return pg_fail(ctx, -ret, "loop %u: thread on CPU %u: %s", l, ctx->lc[l].lcore_id,
			       strerror(ret));
	t->running = 1;
	return 0;
}

void
pg_kernel_join(struct pg_ctx *ctx, uint32_t l)
{
	struct pg_kthread *t = &pg_kernel_of(ctx)->threads[l];

	if (t->running)
		pthread_join(t->tid, NULL);
	t->running = 0;
}

/* "kernel <mode>: <what> (Linux <release>)" */
void
pg_kernel_describe(char *buf, size_t len, const char *mode, const char *what)
{
	struct utsname u;

	if (uname(&u) != 0)
		snprintf(u.release, sizeof(u.release), "?");
	snprintf(buf, len, "kernel %s: %s (Linux %s)", mode, what, u.release);
}
