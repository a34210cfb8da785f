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

static void pg_txs_zeroed(const struct pg_txs *s, const uint8_t *frame, uint8_t *scratch);

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
pg_txs_prepare(struct pg_txs *s, const struct pg_stream_config *sc, uint32_t seed, char *err,
	       size_t err_len)
{
	const uint8_t *frame = sc->frame;
	const uint32_t len = sc->frame_len;
	struct pg_layout lay;
	uint32_t k;
	int ret;

	if (frame == NULL || len < PG_FRAME_MIN || len > PG_FRAME_MAX)
		PG_BAD("template is %u B, need %u..%u (frame size 64..9018 less the 4-byte FCS)",
		       len, PG_FRAME_MIN, PG_FRAME_MAX);
	memset(s, 0, sizeof(*s));
	ret = pg_parse_template(frame, len, &lay, err, err_len);
	if (ret == 0)
		ret = pg_flows_prepare(&s->fl, sc, &lay, frame, err, err_len);
	if (ret != 0)
		return ret;
	s->l3_off = lay.l3;
	s->l4_off = lay.l4;
	s->frame_len = len;
	s->nb_flows = sc->nb_flows;
	s->seed = seed;
	for (k = 0; k < s->fl.nb_fields; k++)
		s->ip4_ck |= s->fl.f[k].grp == PG_GRP_IP4;
	if (frame[lay.l3] >> 4 == 4) {	/* the IPv4 header holds no stamp: one base for all trials */
		uint8_t scratch[PG_FRAME_MAX];

		pg_txs_zeroed(s, frame, scratch);
		s->ip_base = pg_sum16(scratch + lay.l3, PG_IP_HLEN);
	}
	return 0;
}

/* The frame as the sums see it: varied words, checksums, seq and TSC zero
 * (added per packet). */
static void
pg_txs_zeroed(const struct pg_txs *s, const uint8_t *frame, uint8_t *scratch)
{
	uint32_t k;

	memcpy(scratch, frame, s->frame_len);
	for (k = 0; k < s->fl.nb_fields; k++) {
		const struct pg_fld *f = &s->fl.f[k];

		memset(scratch + f->off, 0, f->grp == PG_GRP_PORT || f->grp == PG_GRP_TAG ? 2 : 4);
	}
	memset(scratch + s->l4_off + 6, 0, 2);
	memset(scratch + s->l4_off + PG_UDP_HLEN, 0, PG_STAMP_LEN);
	if (frame[s->l3_off] >> 4 == 4)
		memset(scratch + s->l3_off + 10, 0, 2);
}

void
pg_txs_begin(struct pg_txs *s, const uint8_t *frame, uint16_t stream_id, uint16_t trial_id)
{
	static const uint8_t proto[2] = { 0, 17 };
	const uint32_t l3 = s->l3_off, l4 = s->l4_off;
	const uint32_t udp_len = (uint32_t)(frame[l4 + 4] << 8 | frame[l4 + 5]);
	uint8_t scratch[PG_FRAME_MAX];
	uint8_t *st = scratch + l4 + PG_UDP_HLEN;

	s->stream_id = stream_id;
	s->sig = PG_MAGIC | (uint32_t)trial_id << 16;

	/* signature and stream id fixed per trial */
	pg_txs_zeroed(s, frame, scratch);
	pg_st32(st, s->sig);
	pg_st16(st + 4, stream_id);
	/* pseudo header: addresses, zero + protocol, UDP length (IPv6: as a
	 * 32-bit word whose high half is zero) */
	if (frame[l3] >> 4 == 4)
		s->udp_base = pg_sum16(scratch + l3 + 12, 8);
	else
		s->udp_base = pg_sum16(scratch + l3 + 8, 32);
	s->udp_base += pg_ld16(proto) + pg_ld16(frame + l4 + 4) + pg_sum16(scratch + l4, udp_len);

	s->seq = 0;
	if (s->fl.nb_fields != 0)
		pg_flows_begin(&s->fl);
}

void
pg_txs_partition(struct pg_txs *s, uint32_t part, uint32_t nb_parts)
{
	pg_flows_partition(&s->fl, s->nb_flows, part, nb_parts, s->seed);
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
