/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: a record of the update journal (lib/update/journal.c) on any bytes: the
 * journal's CRC catches a torn write, not a record that a bug, a person or another
 * version wrote. Besides not crashing: what it accepts, written out again, reads back
 * and writes out the same (the journal's records survive a restart unchanged).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "update/journal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char once[8192], twice[8192];
	struct upd_record r, again;
	struct m2m_err err;

	memset(&r, 0, sizeof(r));
	if (upd_record_parse((const char *)data, size, &r, &err) != M2M_OK)
		return 0;
	if (memchr(r.name, '\0', sizeof(r.name)) == NULL ||
	    memchr(r.source, '\0', sizeof(r.source)) == NULL ||
	    memchr(r.message, '\0', sizeof(r.message)) == NULL ||
	    memchr(r.etag, '\0', sizeof(r.etag)) == NULL)
		abort();
	if (upd_record_json(&r, once, sizeof(once), &err) != M2M_OK)
		return 0;
	memset(&again, 0, sizeof(again));
	if (upd_record_parse(once, strlen(once), &again, &err) != M2M_OK ||
	    upd_record_json(&again, twice, sizeof(twice), &err) != M2M_OK || strcmp(once, twice))
		abort();
	return 0;
}
