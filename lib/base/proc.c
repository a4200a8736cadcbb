/* SPDX-License-Identifier: MIT */
/*
 * Who a process is across time: the boot it runs in and its start time. A pid
 * alone is reused; the pair (boot id, pid, start ticks) names one process for
 * good, for records kept in the state directory across restarts and reboots.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"

bool m2m_boot_id(char out[37])
{
	char buf[64];
	ssize_t n = -1;
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
	}
	if (n < 36) {
		out[0] = '\0';
		return false;
	}
	memcpy(out, buf, 36);
	out[36] = '\0';
	return true;
}

bool m2m_proc_stat(int pid, char *state, int *pgrp, uint64_t *start)
{
	char path[64], buf[1024], *p;
	unsigned long long t;
	char s;
	int g, i, fd;
	ssize_t n;

	if (pid <= 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	/* the name (field 2) may hold anything, ")" too: the fields start after its last ")" */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %c %*d %d", &s, &g) != 2)
		return false;
	for (i = 0; i < 20 && p; i++)     /* to field 22, starttime */
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p + 1, "%llu", &t) != 1)
		return false;
	if (state)
		*state = s;
	if (pgrp)
		*pgrp = g;
	if (start)
		*start = t;
	return true;
}
