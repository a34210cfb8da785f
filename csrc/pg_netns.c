/*
 * pg_netns.c - kernel ports named "IFNAME" or "IFNAME@NETNS" (a namespace
 * under /var/run/netns): parsing the name, and entering the namespace to make
 * the port's sockets there (this thread only) and coming back.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pg_kernel.h"

#define PG_NETNS_DIR "/var/run/netns"

int
pg_netns_parse(struct pg_kport *p, uint32_t pi, const char *name)
{
	const char *at;
	size_t n;

	if (name == NULL)
		return pg_fail(NULL, -EINVAL, "port %u: no name", pi);
	at = strchr(name, '@');
	n = at ? (size_t)(at - name) : strlen(name);
	if (n == 0 || n >= IFNAMSIZ)
		return pg_fail(NULL, -EINVAL, "port %u: '%s': interface name must be 1..%d bytes",
			       pi, name, IFNAMSIZ - 1);
	memcpy(p->ifname, name, n);
	p->ifname[n] = '\0';
	snprintf(p->where, sizeof(p->where), "%s", p->ifname);
	if (at == NULL)
		return 0;
	if (at[1] == '\0' || strlen(at + 1) > NAME_MAX || strchr(at + 1, '/') ||
	    !strcmp(at + 1, ".") || !strcmp(at + 1, ".."))
		return pg_fail(NULL, -EINVAL, "port %u: '%s': bad namespace name after '@'", pi,
			       name);
	snprintf(p->netns, sizeof(p->netns), "%s", at + 1);
	snprintf(p->where, sizeof(p->where), "%s@%s", p->ifname, p->netns);
	return 0;
}

/* Hold the port's namespace open (if it names one) for as long as it lives. */
int
pg_netns_open(struct pg_kport *p, uint32_t pi)
{
	char path[sizeof(PG_NETNS_DIR) + NAME_MAX + 1];

	if (!p->netns[0])
		return 0;
	snprintf(path, sizeof(path), "%s/%s", PG_NETNS_DIR, p->netns);
	p->ns_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (p->ns_fd < 0)
		return pg_fail(NULL, -errno, "port %u: no network namespace '%s' (%s: %s)", pi,
			       p->netns, path, strerror(errno));
	return 0;
}

/* Enter port p's namespace; *back is ours (or -1 when p has none). */
int
pg_netns_enter(struct pg_kport *p, int *back)
{
	*back = -1;
	if (p->ns_fd < 0)
		return 0;
	*back = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (*back < 0)
		return pg_fail(NULL, -errno, "port %s: open /proc/thread-self/ns/net: %s", p->where,
			       strerror(errno));
	if (setns(p->ns_fd, CLONE_NEWNET) != 0) {
		const int e = errno;

		close(*back);
		*back = -1;
		return pg_fail(NULL, -e, "port %s: setns into the namespace: %s", p->where,
			       strerror(e));
	}
	return 0;
}

/* Back to our namespace. Failing here would leave this thread in another
 * one, where the next port's name would mean something else: abort. */
void
pg_netns_leave(int back)
{
	if (back < 0)
		return;
	if (setns(back, CLONE_NEWNET) != 0) {
		fprintf(stderr, "pktlab generator: setns back to our namespace: %s\n", strerror(errno));
		abort();
	}
	close(back);
}
