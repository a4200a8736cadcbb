/* SPDX-License-Identifier: MIT */
/* libFuzzer: LwM2M TLV decoder, at every base path depth, and the coercions after it. */
#include <stddef.h>
#include <stdint.h>

#include "lwm2m/lwm2m.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum lw_type types[] = { LW_STRING, LW_INTEGER, LW_UNSIGNED, LW_FLOAT,
					      LW_BOOLEAN, LW_OPAQUE, LW_TIME, LW_OBJLNK };

	for (uint8_t depth = 1; depth <= 4; depth++) {
		struct lw_path base = { { 3, 0, 11, 0 }, depth };
		struct lw_records rs = { 0 };
		struct lw_buf out = { 0 };

		if (!lw_tlv_decode(data, size, &base, &rs)) {
			for (size_t i = 0; i < rs.n; i++)
				lw_value_coerce(&rs.r[i].v, types[i % 8]);
			lw_tlv_encode(&rs, &base, &out);
		}
		lw_buf_free(&out);
		lw_records_free(&rs);
	}
	return 0;
}
