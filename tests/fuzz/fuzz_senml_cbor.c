/* SPDX-License-Identifier: MIT */
/* libFuzzer: SenML CBOR decoder (libcbor underneath), then re-encoding what it accepted. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lwm2m/lwm2m.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lw_path base = { { 3, 0, 0, 0 }, 2 };
	struct lw_records rs = { 0 };
	struct lw_buf out = { 0 };

	if (!lw_senml_cbor_decode(data, size, &rs))
		lw_senml_cbor_encode(&rs, &base, &out);
	lw_buf_free(&out);
	lw_records_free(&rs);
	/* the same bytes as the paths of a composite request (names alone) */
	lw_senml_names_decode(data, size, true, &rs);
	lw_records_free(&rs);
	return 0;
}
