/*
 * pg_flowtab.c - set-up half of pg_flowtab.h: where a shape's blocks go, and
 * the records, taken from the computed path frame by frame. Never per packet.
 */
#include <stdlib.h>
#include <string.h>

#include "pg_stream.h"

/* A 16-byte window at a: inside the frame, clear of the words written per
 * frame (the UDP checksum and the stamp after it). */
static int
pg_ftab_window_ok(const struct pg_txs *s, uint32_t a)
{
	const uint32_t f0 = s->l4_off + 6u, f1 = s->l4_off + PG_UDP_HLEN + PG_STAMP_LEN;

	return a + PG_FTAB_BLK <= s->frame_len && (a + PG_FTAB_BLK <= f0 || a >= f1);
}

/* The words a flow changes, by offset: the slots, and the IPv4 header
 * checksum when addresses vary. Returns how many. */
static uint32_t
pg_ftab_words(const struct pg_txs *s, uint32_t *lo, uint32_t *hi)
{
	const struct pg_flows *fl = &s->fl;
	uint32_t n = 0, k, m;

	for (k = 0; k < fl->nb_slots; k++, n++) {
		lo[n] = fl->slot[k].off;
		hi[n] = lo[n] + fl->slot[k].width;
	}
	if (s->ip4_ck) {
		lo[n] = s->l3_off + 10u;
		hi[n++] = s->l3_off + 12u;
	}
	for (k = 1; k < n; k++)	/* insertion sort by offset */
		for (m = k; m > 0 && lo[m] < lo[m - 1]; m--) {
			const uint32_t l = lo[m], h = hi[m];

			lo[m] = lo[m - 1];
			hi[m] = hi[m - 1];
			lo[m - 1] = l;
			hi[m - 1] = h;
		}
	return n;
}

/* A window for words i..j-1 (clear, holding them all), or -1. */
static int64_t
pg_ftab_window(const struct pg_txs *s, const uint32_t *lo, const uint32_t *hi, uint32_t i,
	       uint32_t j)
{
	int64_t a;

	if (hi[j - 1] - lo[i] > PG_FTAB_BLK)
		return -1;
	for (a = lo[i]; a >= 0 && a + PG_FTAB_BLK >= hi[j - 1]; a--)
		if (pg_ftab_window_ok(s, (uint32_t)a))
			return a;
	return -1;
}

/* Blocks covering every word, each taking as many as fit: 0, or -1 when
 * they need more than PG_FTAB_BLKS or a word has no clear window. */
static int
pg_ftab_blocks(struct pg_txs *s)
{
	uint32_t lo[PG_MAX_FIELDS + 1], hi[PG_MAX_FIELDS + 1];
	const uint32_t nw = pg_ftab_words(s, lo, hi);
	uint32_t i = 0, j;

	s->tab.nb_blk = 0;
	while (i < nw) {
		int64_t a = -1;

		for (j = nw; j > i; j--) {
			a = pg_ftab_window(s, lo, hi, i, j);
			if (a >= 0)
				break;
		}
		if (a < 0 || s->tab.nb_blk == PG_FTAB_BLKS)
			return -1;
		s->tab.off[s->tab.nb_blk++] = (uint16_t)a;
		i = j;
	}
	return 0;
}

void
pg_txs_table(struct pg_txs *s, const uint8_t *frame)
{
	struct pg_flows *fl = &s->fl;
	struct pg_ftab *t = &s->tab;
	uint8_t scratch[PG_FRAME_MAX];
	size_t stride, size;
	uint32_t ip_h, j, b;

	memset(t, 0, sizeof(*t));
	if (fl->nb_fields == 0 || pg_ftab_blocks(s) != 0) {
		t->nb_blk = 0;	/* the computed path */
		return;
	}
	stride = (size_t)t->nb_blk * PG_FTAB_BLK;
	size = (size_t)fl->nb * (stride + sizeof(uint16_t));
	size = (size + 63) & ~(size_t)63;
	if (size > PG_FTAB_MAX_BYTES || getenv("PKTLAB_NO_FLOW_TABLE") != NULL ||
	    (t->rec = aligned_alloc(64, size)) == NULL) {
		t->nb_blk = 0;	/* the computed path: slower, same frames */
		return;
	}
	t->l4d = (uint16_t *)(t->rec + (size_t)fl->nb * stride);
	t->nb = fl->nb;
	/* exactly what pg_txs_fill would make of the computed path's words */
	memcpy(scratch, frame, s->frame_len);
	ip_h = pg_fold(s->ip_base);
	pg_flows_begin(fl);
	for (j = 0; j < fl->nb; j++) {
		uint64_t ip, l4;

		pg_flows_write(fl, scratch, &ip, &l4);
		if (s->ip4_ck)
			pg_st16(scratch + s->l3_off + 10, (uint16_t)~pg_fold((uint64_t)ip_h + ip));
		for (b = 0; b < t->nb_blk; b++)
			memcpy(t->rec + j * stride + b * PG_FTAB_BLK, scratch + t->off[b], PG_FTAB_BLK);
		t->l4d[j] = pg_fold(l4);
	}
	pg_flows_begin(fl);
}

void
pg_txs_release(struct pg_txs *s)
{
	free(s->tab.rec);
	memset(&s->tab, 0, sizeof(s->tab));
}
