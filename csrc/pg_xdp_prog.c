/*
 * pg_xdp_prog.c - the XDP program that feeds pktlab's AF_XDP sockets: every
 * frame to the socket of its receive queue, or on to the stack if the queue
 * has none (flags of bpf_redirect_map, 5.3+).
 *
 *	r2 = ctx->rx_queue_index
 *	r1 = &xsks_map
 *	r3 = XDP_PASS
 *	return bpf_redirect_map(r1, r2, r3)
 *
 * Attached with a bpf_link rather than netlink: a link is a file, closed
 * with the process whatever ends it, and the kernel detaches the program
 * then. libxdp's own loader attaches by netlink (the program outlives a
 * killed process until someone detaches it or the interface goes) and pins
 * its dispatcher in bpffs; the link needs neither.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include <linux/bpf.h>
#include <linux/if_link.h>

#include <bpf/bpf.h>

#include "pg_kernel.h"

static int
pg_xdp_load(struct pg_kport *p)
{
	char log[1024] = "";
	LIBBPF_OPTS(bpf_prog_load_opts, popts, .expected_attach_type = BPF_XDP,
		    .log_buf = log, .log_size = sizeof(log), .log_level = 1);
	const struct bpf_insn insns[] = {
		{ .code = BPF_LDX | BPF_MEM | BPF_W, .dst_reg = BPF_REG_2,
		  .src_reg = BPF_REG_1, .off = offsetof(struct xdp_md, rx_queue_index) },
		{ .code = BPF_LD | BPF_DW | BPF_IMM, .dst_reg = BPF_REG_1,
		  .src_reg = BPF_PSEUDO_MAP_FD, .imm = p->xdp_map_fd },
		{ 0 },	/* second half of the 64-bit immediate */
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_3, .imm = XDP_PASS },
		{ .code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_redirect_map },
		{ .code = BPF_JMP | BPF_EXIT },
	};

	p->xdp_prog_fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "pktlab_xsk", "GPL", insns,
				       sizeof(insns) / sizeof(insns[0]), &popts);
	if (p->xdp_prog_fd < 0)
		return pg_fail(NULL, -errno, "port %s: loading the XDP program: %s%s%s", p->where,
			       strerror(errno), log[0] ? "; verifier: " : "", log);
	return 0;
}

int
pg_xdp_attach(struct pg_kport *p)
{
	LIBBPF_OPTS(bpf_link_create_opts, lopts);
	uint32_t q;
	int ret;

	p->xdp_map_fd = bpf_map_create(BPF_MAP_TYPE_XSKMAP, "pktlab_xsks", 4, 4, p->nb_queues,
				       NULL);
	if (p->xdp_map_fd < 0)
		return pg_fail(NULL, -errno, "port %s: XSKMAP of %u: %s", p->where, p->nb_queues,
			       strerror(errno));
	ret = pg_xdp_load(p);
	if (ret != 0)
		return ret;
	for (q = 0; q < p->nb_queues; q++) {
		ret = pg_xsk_update_map(p->xsk[q], p->xdp_map_fd);
		if (ret != 0)
			return pg_fail(NULL, ret, "port %s queue %u: into the XSKMAP: %s", p->where,
				       q, strerror(-ret));
	}
	/* native (driver) mode, the copy-mode fallback is the generic hook */
	lopts.flags = XDP_FLAGS_DRV_MODE;
	p->xdp_link_fd = bpf_link_create(p->xdp_prog_fd, p->ifindex, BPF_XDP, &lopts);
	p->xdp_how = "native";
	if (p->xdp_link_fd < 0) {
		const int native_err = errno;

		lopts.flags = XDP_FLAGS_SKB_MODE;
		p->xdp_link_fd = bpf_link_create(p->xdp_prog_fd, p->ifindex, BPF_XDP, &lopts);
		p->xdp_how = "generic";
		if (p->xdp_link_fd < 0)
			return pg_fail(NULL, -errno, "port %s: attaching the XDP program: native "
				       "mode: %s, generic mode: %s (another XDP program there?)",
				       p->where, strerror(native_err), strerror(errno));
	}
	return 0;
}
