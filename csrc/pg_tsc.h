/*
 * pg_tsc.h - time as every loop reads it: the TSC, and pause in a spin.
 *
 * One clock for every backend: DPDK's rte_rdtsc() is this same instruction.
 * Its frequency is EAL's when EAL runs (pg_tsc_set_hz), else calibrated once
 * per process against CLOCK_MONOTONIC_RAW (pg_tsc.c).
 */
#ifndef PG_TSC_H
#define PG_TSC_H

#include <stdint.h>
#include <time.h>

static inline uint64_t
pg_tsc_read(void)
{
#if defined(__x86_64__) || defined(__i386__)
	return __builtin_ia32_rdtsc();
#else
	struct timespec ts;	/* no TSC: nanoseconds stand in, pg_tsc_hz() is 1e9 */

	clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
#endif
}

static inline void
pg_tsc_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#else
	__asm__ volatile("" ::: "memory");
#endif
}

/* EAL knows the frequency better (CPUID, or its own calibration): use it. */
void pg_tsc_set_hz(uint64_t hz);

#endif /* PG_TSC_H */
