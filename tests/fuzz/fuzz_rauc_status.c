/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: what `rauc status --output-format=json` printed, as the RAUC installer
 * reads it (lib/update/install_rauc.c), and RAUC's error lines as it classifies them:
 * another RAUC version, a half-written answer of a service that died, must never crash
 * the reader nor give it slots beyond its table or unterminated names.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "update/install.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct upd_slot_status st;
	struct m2m_err err;
	char *text = malloc(size + 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	upd_rauc_classify(text);
	memset(&st, 0, sizeof(st));
	if (upd_rauc_parse_status(text, &st, &err) == M2M_OK) {
		if (st.n > sizeof(st.slot) / sizeof(st.slot[0]) ||
		    !memchr(st.booted, '\0', sizeof(st.booted)) ||
		    !memchr(st.primary, '\0', sizeof(st.primary)))
			abort();
		for (size_t i = 0; i < st.n; i++)
			if (!memchr(st.slot[i].name, '\0', sizeof(st.slot[i].name)) ||
			    !memchr(st.slot[i].bootname, '\0', sizeof(st.slot[i].bootname)) ||
			    !memchr(st.slot[i].version, '\0', sizeof(st.slot[i].version)))
				abort();
	}
	free(text);
	return 0;
}
