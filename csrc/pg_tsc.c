/*
 * pg_tsc.c - the TSC frequency: EAL's when EAL runs, else calibrated once per
 * process (~100 ms) against CLOCK_MONOTONIC_RAW, as DPDK's own fallback does.
 */
#include <errno.h>
#include <time.h>

#include "pktgen.h"
#include "pg_tsc.h"

#define PG_CALIBRATE_NS 100000000L	/* calibration window [ns] */

static uint64_t pg_hz;

/* A (TSC, clock) pair taken as close together as a few tries allow. */
static void
pg_clock_pair(uint64_t *tsc, uint64_t *ns)
{
	uint64_t best = UINT64_MAX;
	int i;

	for (i = 0; i < 16; i++) {
		struct timespec ts;
		const uint64_t a = pg_tsc_read();
		uint64_t b;

		clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
		b = pg_tsc_read();
		if (b - a < best) {
			best = b - a;
			*tsc = a + (b - a) / 2;
			*ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
		}
	}
}

void
pg_tsc_set_hz(uint64_t hz)
{
	pg_hz = hz;
}

uint64_t
pg_tsc_hz(void)
{
#if defined(__x86_64__) || defined(__i386__)
	if (pg_hz == 0) {
		struct timespec left = { 0, PG_CALIBRATE_NS };
		uint64_t t0 = 0, n0 = 0, t1 = 0, n1 = 1;

		pg_clock_pair(&t0, &n0);
		while (nanosleep(&left, &left) != 0 && errno == EINTR)
			;
		pg_clock_pair(&t1, &n1);
		pg_hz = (uint64_t)((double)(t1 - t0) * 1e9 / (double)(n1 - n0) + 0.5);
	}
#else
	pg_hz = 1000000000u;
#endif
	return pg_hz;
}

uint64_t
pg_rdtsc(void)
{
	return pg_tsc_read();
}
