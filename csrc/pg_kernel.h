/*
 * pg_kernel.h - what the two kernel backends share: interfaces the kernel
 * owns (veths, bridge ports, NICs left to their driver), no EAL.
 *
 *  pg_kernel.c    ports (namespace, ifindex, MAC, MTU, promiscuous), loops
 *                 on pinned threads, and the hooks both backends use
 *  pg_netns.c     "IFNAME@NETNS" ports: in and out of a namespace
 *  pg_afpacket.c  TPACKET_V2 rings: backend pg_afpacket_backend
 *  pg_afxdp.c     AF_XDP sockets (libxdp's xsk rings): pg_afxdp_backend
 *  pg_xdp_prog.c  the XDP program that feeds those sockets
 *
 * Every socket of a port is made inside its namespace (setns there and back,
 * this thread only) and keeps working from ours.
 */
#ifndef PG_KERNEL_H
#define PG_KERNEL_H

#include <limits.h>
#include <net/if.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "pg_engine.h"

#define PG_KQUEUES 4		/* device queues per port pktlab binds (AF_XDP: a socket each) */

struct pg_xsk;

/* AF_PACKET: one receive ring of a port, a loop's (a fanout member when
 * several loops receive). */
struct pg_pkt_rx {
	int fd;
	uint32_t nb_slots;
	uint32_t head;
	uint8_t *ring;
	size_t ring_len;
};

/* AF_PACKET: one loop's TX ring of one stream, every slot its template. */
struct pg_pkt_tx {
	int fd;
	uint32_t frame_len;
	uint32_t slot_size;
	uint32_t nb_slots;
	uint32_t head;		/* next slot to fill */
	uint8_t *ring;
	size_t ring_len;
};

/* AF_XDP: one loop's TX chunks of one stream in the UMEM of its socket. */
struct pg_xdp_tx {
	struct pg_xsk *xsk;
	uint64_t *free;		/* addresses of chunks not in flight, a stack */
	uint32_t nb_free;
	uint32_t frame_len;
	uint8_t slot;		/* index in xsk->tx */
};

struct pg_kport {
	char ifname[IFNAMSIZ];
	char netns[NAME_MAX + 1];	/* "" : ours */
	char where[IFNAMSIZ + NAME_MAX + 2];	/* "veth0" or "veth0@ns", for messages */
	int ns_fd;		/* open while the port lives: the way back in to detach */
	int ctl_fd;		/* AF_PACKET, protocol 0 (receives nothing): ioctls, promiscuous */
	int ifindex;
	uint32_t mtu;
	uint8_t mac[6];
	int receives;		/* some stream expects frames here */
	int sends;		/* some stream sends here */
	uint64_t drops;		/* AF_PACKET: ring drops so far (the kernel's resets on read) */
	uint64_t drops_base;	/* when the trial began */
	struct pg_pkt_rx pkt_rx[PG_MAX_LCORES];
	uint32_t nb_queues;	/* AF_XDP sockets */
	struct pg_xsk *xsk[PG_KQUEUES];
	int xdp_map_fd;
	int xdp_prog_fd;
	int xdp_link_fd;
	const char *xdp_how;	/* "native", "generic" */
};

struct pg_kthread {
	pthread_t tid;
	int (*fn)(void *);
	void *arg;
	int running;
};

/* ctx->priv of both kernel backends */
struct pg_kernel {
	struct pg_kport ports[PG_MAX_PORTS];
	struct pg_pkt_tx pkt_tx[PG_MAX_LCORES][PG_MAX_STREAMS];
	struct pg_xdp_tx xdp_tx[PG_MAX_LCORES][PG_MAX_STREAMS];
	struct pg_kthread threads[PG_MAX_LCORES];
};

/* What a mode adds to pg_kernel_setup: its port inside the namespace. */
typedef int (*pg_kport_setup_fn)(struct pg_ctx *ctx, const struct pg_config *cfg, uint32_t pi);

/* pg_kernel.c */
void *pg_kernel_zalloc(size_t len);
void pg_kernel_free(void *p);
int pg_kernel_check(const struct pg_config *cfg, char *err, size_t err_len);
int pg_kernel_setup(struct pg_ctx *ctx, const struct pg_config *cfg, pg_kport_setup_fn mode_setup);
void pg_kernel_teardown(struct pg_ctx *ctx);
int pg_kernel_port_info(struct pg_ctx *ctx, uint32_t pi, uint32_t *port_id, uint8_t *mac);
int pg_kernel_link_up(struct pg_ctx *ctx, uint32_t pi);
uint64_t pg_kernel_rx_missed(struct pg_ctx *ctx, uint32_t pi);
void pg_kernel_begin_trial(struct pg_ctx *ctx);
void pg_kernel_describe(char *buf, size_t len, const char *mode, const char *what);
int pg_kernel_launch(struct pg_ctx *ctx, uint32_t l, int (*fn)(void *), void *arg);
void pg_kernel_join(struct pg_ctx *ctx, uint32_t l);
int pg_kernel_setsockopt(int fd, int level, int name, const void *val, unsigned int len,
			 const char *what, const char *port);
uint32_t pg_pow2(uint32_t v);
/* the rx queue a loop polls next, or a failure naming the port */
struct pg_rxq *pg_kernel_add_rxq(struct pg_lcore *lc, uint32_t pi, void *io);
static inline struct pg_kernel *
pg_kernel_of(const struct pg_ctx *ctx)
{
	return ctx->priv;
}

/* A kernel backend's table: its own I/O, check, set-up and description, the
 * rest shared. */
#define PG_KERNEL_BACKEND(name_, io_, check_, setup_, describe_) {		\
	.name = name_, .io = io_, .check = check_, .setup = setup_,		\
	.describe = describe_,							\
	.zalloc = pg_kernel_zalloc, .free = pg_kernel_free,			\
	.teardown = pg_kernel_teardown, .port_info = pg_kernel_port_info,	\
	.link_up = pg_kernel_link_up, .rx_missed = pg_kernel_rx_missed,		\
	.begin_trial = pg_kernel_begin_trial,					\
	.launch = pg_kernel_launch, .join = pg_kernel_join,			\
}

/* pg_netns.c */
int pg_netns_parse(struct pg_kport *p, uint32_t pi, const char *name);
int pg_netns_open(struct pg_kport *p, uint32_t pi);
int pg_netns_enter(struct pg_kport *p, int *back);
void pg_netns_leave(int back);

/* pg_afxdp.c / pg_xdp_prog.c */
void pg_xsk_free(struct pg_xsk *x);
uint64_t pg_xsk_drops(const struct pg_xsk *x);	/* since the socket was made; NULL: 0 */
int pg_xsk_update_map(struct pg_xsk *x, int map_fd);
int pg_xdp_attach(struct pg_kport *p);

#endif /* PG_KERNEL_H */
