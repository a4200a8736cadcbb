/* SPDX-License-Identifier: MIT */
/* libFuzzer: the saved observations and stored notifications (dm-observations.json). */
#include <stddef.h>
#include <stdint.h>

#include "lwm2m/observe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct lw_observers s;
	static struct lw_obs_settings set;

	lw_obs_parse(&s, &set, (const char *)data, size, "coap://127.0.0.1:5683", "ep");
	lw_obs_free(&s);
	return 0;
}
