/*
 * pg_flowtab.h - one loop's flows, precomputed: for each frame j of the
 * loop's cycle (sequential or the random permutation alike), the header
 * bytes its flow puts on the wire, as up to PG_FTAB_BLKS 16-byte blocks, and
 * the sum its words add to the UDP checksum.
 *
 * Why: computed per frame, the random order costs a permutation and a
 * reduction per field, and every field its own store. From the table a frame
 * costs one 16-byte load and store per block (the IPv4 5-tuple and its header
 * checksum are one block: bytes l3+10..l3+25) and one 16-bit add, whatever
 * the order or the number of fields. The records are the computed path's own
 * output (pg_flows_write), taken once at set-up.
 *
 * A block may also hold template bytes between varied words (constant, so
 * rewritten as they are) but never a word written per frame (UDP checksum,
 * stamp). A shape that needs more blocks, or a table over PG_FTAB_MAX_BYTES,
 * keeps the computed path; so does every stream when the environment has
 * PKTLAB_NO_FLOW_TABLE (the tests send both paths' frames through one check).
 */
#ifndef PG_FLOWTAB_H
#define PG_FLOWTAB_H

#include <stddef.h>
#include <stdint.h>

#define PG_FTAB_BLK 16			/* [B] one block */
#define PG_FTAB_BLKS 4			/* blocks per record, at most */
#define PG_FTAB_MAX_BYTES (64u << 20)	/* [B] one loop's table, at most */
/* [frames] how far ahead the fill loop prefetches records: without it a 1M-flow
 * table (18 MB) cost ~2.5 ns a frame in misses on the test host, with it ~0.1 */
#define PG_FTAB_AHEAD 128

struct pg_ftab {
	uint8_t *rec;		/* [nb][nb_blk * PG_FTAB_BLK]: frame j's bytes at off[0..] */
	uint16_t *l4d;		/* [nb]: frame j's varied words' UDP sum, folded */
	uint32_t nb;		/* records: the loop's flows, in its order */
	uint32_t nb_blk;	/* 0: no table, the computed path */
	uint16_t off[PG_FTAB_BLKS];	/* [B] each block's offset in the frame */
};

struct pg_txs;

/* Set-up: build s's table from the stream's template (after its partition);
 * when the shape or size does not fit, or memory is short, nb_blk stays 0. */
void pg_txs_table(struct pg_txs *s, const uint8_t *frame);
void pg_txs_release(struct pg_txs *s);

#endif /* PG_FLOWTAB_H */
