/* SPDX-License-Identifier: MIT */
/* libFuzzer: link-format decoder, paths and the Write-Attributes query parser. */
#include <stddef.h>
#include <stdint.h>

#include "lwm2m/lwm2m.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lw_link links[16];
	struct lw_path p;
	struct lw_buf b = { 0 };
	size_t n;

	lw_link_decode(data, size, links, 16, &n);
	lw_path_parse((const char *)data, size, &p);
	lw_b64_decode((const char *)data, size, &b);
	lw_buf_free(&b);
	return 0;
}
