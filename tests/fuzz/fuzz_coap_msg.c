/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: the project's own CoAP option handling (lib/coap: Uri-Path,
 * Location-Path and Uri-Query joined with segments kept, Content-Format,
 * Accept, Observe) on datagrams libcoap accepts, then the LwM2M path parser
 * the request handler applies to the result.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "coap/coap.h"
#include "lwm2m/lwm2m.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct m2m_coap_msg m;
	struct lw_path p;

	for (int req = 0; req < 2; req++) {
		if (!mcoap_parse(data, size, req, &m))
			continue;
		lw_path_parse(m.path, strlen(m.path), &p);
		if (m.payload && m.len)
			(void)m.payload[m.len - 1];
	}
	return 0;
}
