/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: the journal parser (lib/state), on whatever a disk may hold after a power
 * cut or a person's edit. Besides not crashing, it checks what replay promises: each
 * record it hands out is whole (its length is its string length, no newline in it), the
 * whole part is a prefix of the input, and parsing that prefix again gives the same
 * records and nothing torn.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "state/state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int check_record(const char *rec, size_t len, void *ctx)
{
	unsigned *n = ctx;

	if (strlen(rec) != len || memchr(rec, '\n', len))
		abort();
	(*n)++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1);
	size_t whole = 0, again = 0;
	unsigned count = 0, seen = 0, count2 = 0;
	struct m2m_err err;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	if (m2m_journal_walk("fuzz", buf, size, check_record, &seen, &whole, &count, &err) == M2M_OK) {
		if (whole > size || seen != count || memcmp(buf, data, size))
			abort();
		if (m2m_journal_walk("fuzz", buf, whole, NULL, NULL, &again, &count2, &err) != M2M_OK ||
		    again != whole || count2 != count)
			abort();
	}
	free(buf);
	return 0;
}
