/* SPDX-License-Identifier: MIT */
/* libFuzzer: plain text decoder for every resource type. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "lwm2m/lwm2m.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	for (int t = LW_STRING; t <= LW_OBJLNK; t++) {
		struct lw_value v = { 0 };
		struct lw_buf b = { 0 };

		if (!lw_text_decode(data, size, (enum lw_type)t, &v))
			lw_text_encode(&v, &b);
		free(v.buf);
		lw_buf_free(&b);
	}
	return 0;
}
