/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: the security events' compaction (lib/state/events.c,
 * m2m_state_events_keep) on whatever the file may hold (a power cut's torn line,
 * a person's edit, another program's lines). Besides not crashing, it checks what
 * the compaction promises: what it keeps is whole lines of the input, in their
 * order, each an event no longer than one is written; at most four kinds, of each
 * at most M2M_EVENTS_KIND_KEEP lines in 32 KiB; and kept again, nothing goes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "state/state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct kind {
	const char *name;
	size_t len, bytes;
	unsigned n;
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1), *orig = malloc(size + 1);
	struct kind k[5];
	size_t len = size, o, p, q = 0, nk = 0;

	if (!buf || !orig) {
		free(buf);
		free(orig);
		return 0;
	}
	memcpy(buf, data, size);
	if (!len || buf[len - 1] != '\n')
		buf[len++] = '\n';
	memcpy(orig, buf, len);
	o = m2m_state_events_keep(buf, len);
	if (o > len)
		abort();
	for (p = o; p < len;) {
		const char *nl = memchr(buf + p, '\n', len - p), *sp;
		size_t l, i;

		if (!nl)
			abort(); /* not a whole line */
		l = (size_t)(nl - (buf + p)) + 1;
		sp = memchr(buf + p, ' ', l);
		if (l > 96 || buf[p] < '0' || buf[p] > '9' || !sp || sp + 1 == nl ||
		    memchr(sp + 1, ' ', (size_t)(nl - sp - 1)))
			abort(); /* not an event */
		/* one of the input's lines, after the one before it */
		while (q < len && !((q == 0 || orig[q - 1] == '\n') && q + l <= len &&
				    !memcmp(orig + q, buf + p, l)))
			q++;
		if (q >= len)
			abort();
		q += l;
		for (i = 0; i < nk && (k[i].len != (size_t)(nl - sp - 1) || memcmp(k[i].name, sp + 1, k[i].len)); i++)
			;
		if (i == nk) {
			if (nk == 4)
				abort(); /* a fifth kind */
			k[nk++] = (struct kind){ .name = sp + 1, .len = (size_t)(nl - sp - 1) };
		}
		if (++k[i].n > M2M_EVENTS_KIND_KEEP || (k[i].bytes += l) > 32 * 1024)
			abort();
		p += l;
	}
	/* within every bound already: a second compaction keeps it all */
	if (m2m_state_events_keep(buf + o, len - o) != 0)
		abort();
	free(buf);
	free(orig);
	return 0;
}
