/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: one copy of the TPM floor (lib/update/floor_tpm.c, floor.h) on any bytes:
 * what a TPM index holds after a person, a bug or a cut write put it there. Besides not
 * crashing: a copy it accepts has valid names and versions, sorted, and encodes again to
 * the same bytes (the floors survive a raise of another name unchanged).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "update/floor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct upd_floor_set s;
	static uint8_t again[2048];
	uint32_t gen;
	size_t len;

	if (size > 2048)
		return 0;
	if (upd_floor_copy_decode(data, size, &s, &gen) != UPD_COPY_VALID)
		return 0;
	for (size_t i = 0; i < s.n; i++) {
		if (memchr(s.e[i].name, '\0', sizeof(s.e[i].name)) == NULL || s.e[i].v.n < 1 ||
		    s.e[i].v.n > 4 || (i && strcmp(s.e[i - 1].name, s.e[i].name) >= 0))
			abort();
	}
	if (upd_floor_copy_encode(&s, gen, again, sizeof(again), &len, NULL) != M2M_OK ||
	    len > size || memcmp(again, data, len) != 0)
		abort();
	return 0;
}
