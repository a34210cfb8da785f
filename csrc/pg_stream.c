/*
 * pg_stream.c - set-up half of pg_stream.h: template validation and the
 * per-trial base checksums. Runs once per stream per trial, never per packet.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "pg_stream.h"

/* Partial one's-complement sum of memory-order 16-bit words (unfolded). An
 * odd tail byte is padded with zero, as in the checksum definition. */
static uint64_t
pg_sum16(const uint8_t *p, uint32_t len)
{
	uint64_t sum = 0;

	for (; len >= 2; p += 2, len -= 2)
		sum += pg_ld16(p);
	if (len) {
		const uint8_t last[2] = { p[0], 0 };

		sum += pg_ld16(last);
	}
	return sum;
}

#define PG_BAD(...) do { snprintf(err, err_len, __VA_ARGS__); return -EINVAL; } while (0)

int
pg_config_check(const struct pg_config *cfg, char *err, size_t err_len)
{
	uint32_t i;

	if (cfg->nb_ports < 1 || cfg->nb_ports > PG_MAX_PORTS)
		PG_BAD("nb_ports %u out of 1..%u", cfg->nb_ports, PG_MAX_PORTS);
	if (cfg->nb_streams < 1 || cfg->nb_streams > PG_MAX_STREAMS)
		PG_BAD("nb_streams %u out of 1..%u", cfg->nb_streams, PG_MAX_STREAMS);
	if (cfg->burst < 1 || cfg->burst > PG_BURST_MAX)
		PG_BAD("burst %u out of 1..%u", cfg->burst, PG_BURST_MAX);
	if (cfg->ring_size < 64 || cfg->ring_size > 32768)
		PG_BAD("ring_size %u out of 64..32768", cfg->ring_size);
	for (i = 0; i < cfg->nb_streams; i++) {
		const struct pg_stream_config *sc = &cfg->streams[i];

		if (sc->tx_port >= cfg->nb_ports)
			PG_BAD("stream %u: tx_port %u >= nb_ports %u", i, sc->tx_port, cfg->nb_ports);
		if (sc->rx_port < -1 || sc->rx_port >= (int32_t)cfg->nb_ports)
			PG_BAD("stream %u: rx_port %d out of -1..%u", i, sc->rx_port, cfg->nb_ports - 1);
	}
	return 0;
}

int
pg_txs_prepare(struct pg_txs *s, const uint8_t *frame, uint32_t len, uint32_t nb_flows,
	       uint32_t vary, char *err, size_t err_len)
{
	uint32_t l3 = PG_ETH_HLEN, ip_len, udp_len;
	uint16_t ethertype;
	const uint8_t *ip, *udp;

	if (frame == NULL || len < PG_FRAME_MIN || len > PG_FRAME_MAX)
		PG_BAD("template is %u B, need %u..%u (frame size 64..9018 less the 4-byte FCS)",
		       len, PG_FRAME_MIN, PG_FRAME_MAX);
	if (nb_flows < 1 || nb_flows > PG_MAX_FLOWS)
		PG_BAD("nb_flows %u out of 1..%u", nb_flows, PG_MAX_FLOWS);
	if (vary == 0 || (vary & ~(uint32_t)(PG_VARY_SRC_IP | PG_VARY_SRC_PORT)))
		PG_BAD("vary 0x%x: need PG_VARY_SRC_IP and/or PG_VARY_SRC_PORT", vary);

	ethertype = (uint16_t)(frame[12] << 8 | frame[13]);
	if (ethertype == 0x8100) {
		l3 += PG_VLAN_HLEN;
		ethertype = (uint16_t)(frame[16] << 8 | frame[17]);
	}
	if (ethertype != 0x0800)
		PG_BAD("template ethertype 0x%04x at offset %u: need IPv4 (0x0800), optionally "
		       "behind one 802.1Q tag", ethertype, l3 - 2);
	ip = frame + l3;
	if (ip[0] != 0x45)
		PG_BAD("template IPv4 version/IHL byte 0x%02x: need 0x45 (IPv4 without options)",
		       ip[0]);
	if (ip[9] != 17)
		PG_BAD("template IPv4 protocol %u: need UDP (17)", ip[9]);
	if ((ip[6] & 0x3f) || ip[7])
		PG_BAD("template IPv4 is a fragment (MF or offset set)");
	ip_len = (uint32_t)(ip[2] << 8 | ip[3]);
	if (ip_len < PG_IP_HLEN + PG_UDP_HLEN || l3 + ip_len > len)
		PG_BAD("template IPv4 total length %u does not fit a %u-byte frame with L3 at %u",
		       ip_len, len, l3);
	udp = ip + PG_IP_HLEN;
	udp_len = (uint32_t)(udp[4] << 8 | udp[5]);
	if (udp_len != ip_len - PG_IP_HLEN)
		PG_BAD("template UDP length %u != IPv4 total length %u - 20", udp_len, ip_len);
	if (udp_len - PG_UDP_HLEN < PG_STAMP_LEN)
		PG_BAD("template UDP payload is %u B, the stamp needs %u (a tagged frame needs "
		       "frame size >= 68)", udp_len - PG_UDP_HLEN, PG_STAMP_LEN);

	memset(s, 0, sizeof(*s));
	s->l3_off = (uint16_t)l3;
	s->frame_len = len;
	s->nb_flows = nb_flows;
	s->ip0 = (uint32_t)ip[12] << 24 | (uint32_t)ip[13] << 16 | (uint32_t)ip[14] << 8 | ip[15];
	s->port0 = (uint16_t)(udp[0] << 8 | udp[1]);
	s->ip_step = (vary & PG_VARY_SRC_IP) ? 1 : 0;
	s->port_step = (vary & PG_VARY_SRC_PORT) ? 1 : 0;
	return 0;
}

void
pg_txs_begin(struct pg_txs *s, const uint8_t *frame, uint16_t stream_id, uint16_t trial_id)
{
	const uint8_t *ip = frame + s->l3_off;
	const uint8_t *udp = ip + PG_IP_HLEN;
	const uint8_t *payload = udp + PG_UDP_HLEN;
	const uint32_t udp_len = (uint32_t)(udp[4] << 8 | udp[5]);
	uint8_t hdr[PG_IP_HLEN];
	uint8_t pseudo[12] = { 0 };
	uint8_t stamp[6];

	s->stream_id = stream_id;
	s->sig = PG_MAGIC | (uint32_t)trial_id << 16;

	/* IPv4 header with checksum and source zeroed */
	memcpy(hdr, ip, PG_IP_HLEN);
	memset(hdr + 10, 0, 6);
	s->ip_base = pg_sum16(hdr, PG_IP_HLEN);

	/* pseudo header (source zeroed): dst, zero, protocol, UDP length */
	memcpy(pseudo + 4, ip + 16, 4);
	pseudo[9] = 17;
	memcpy(pseudo + 10, udp + 4, 2);
	/* UDP header: source port and checksum zeroed, so dst port + length */
	s->udp_base = pg_sum16(pseudo, sizeof(pseudo)) + pg_sum16(udp + 2, 4);
	/* stamp: signature and stream id are fixed per trial; seq and TSC are
	 * added per packet; the rest of the payload is the template's */
	pg_st32(stamp, s->sig);
	pg_st16(stamp + 4, stream_id);
	s->udp_base += pg_sum16(stamp, sizeof(stamp)) +
		       pg_sum16(payload + PG_STAMP_LEN, udp_len - PG_UDP_HLEN - PG_STAMP_LEN);

	s->seq = 0;
	s->flow = 0;
	s->ip = s->ip0;
	s->port = s->port0;
}

void
pg_txs_partition(struct pg_txs *s, uint32_t part, uint32_t nb_parts)
{
	/* the cursor steps by the same increments, only wider */
	s->ip0 += part * s->ip_step;
	s->port0 = (uint16_t)(s->port0 + part * s->port_step);
	s->nb_flows = (s->nb_flows - part + nb_parts - 1) / nb_parts;
	s->ip_step *= nb_parts;
	s->port_step = (uint16_t)(s->port_step * nb_parts);
	s->ip = s->ip0;
	s->port = s->port0;
}

static volatile int *volatile pg_sig_stop;
static volatile int pg_sig_fd = -1;
static volatile sig_atomic_t pg_sig_signo;

static void
pg_on_signal(int signo)
{
	const int saved = errno;
	volatile int *stop = pg_sig_stop;
	const int fd = pg_sig_fd;

	pg_sig_signo = signo;
	if (stop != NULL)
		*stop = 1;
	if (fd >= 0) {
		ssize_t r = write(fd, "s", 1);

		(void)r;	/* a full pipe already wakes the reader */
	}
	errno = saved;
}

int
pg_sig_catch(volatile int *stop, int wake_fd)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = pg_on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	pg_sig_stop = stop;
	pg_sig_fd = wake_fd;
	if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0)
		return -errno;
	return 0;
}

void
pg_sig_release(volatile int *stop)
{
	if (pg_sig_stop == stop) {
		/* it must not touch a freed ctx or an fd the caller may close and reuse */
		pg_sig_stop = NULL;
		pg_sig_fd = -1;
	}
}

int
pg_sig_caught_signo(void)
{
	return pg_sig_signo;
}
