/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: update.firmware as the engine reads it (lib/update/fw_record.c): a record
 * of an older version, one damaged by a disk or a hand, must never crash the reader,
 * give it more slots than its table or an unterminated string; what it accepts is
 * written and read back the same.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "update/fw_record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void terminated(const struct upd_fw_entry *e)
{
	if (!memchr(e->name, '\0', sizeof(e->name)) || !memchr(e->version, '\0', sizeof(e->version)) ||
	    !memchr(e->slot, '\0', sizeof(e->slot)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct upd_fw_record r, back;
	struct m2m_err err;
	char *j;

	if (upd_fw_record_parse((const char *)data, size, &r, &err) != M2M_OK)
		return 0;
	if (r.n > UPD_FW_SLOTS_MAX || !memchr(r.source, '\0', sizeof(r.source)))
		abort();
	terminated(&r.run);
	terminated(&r.from);
	for (size_t i = 0; i < r.n; i++)
		terminated(&r.slots[i]);
	j = upd_fw_record_json(&r);
	if (!j)
		return 0;
	if (upd_fw_record_parse(j, strlen(j), &back, &err) != M2M_OK ||
	    strcmp(back.run.version, r.run.version) || back.n != r.n || back.fell_back != r.fell_back)
		abort();
	free(j);
	return 0;
}
