/* SPDX-License-Identifier: MIT */
/*
 * Test tool: one request through libm2m's CoAP glue (lib/coap), so the
 * integration tests can check DTLS-PSK and block-wise transfers both ways
 * against libcoap's own coap-server. Not installed.
 *
 *   coap-probe [-i IDENTITY -k KEYFILE] [-t MS] [-m BYTES] get URI PATH [OUTFILE]
 *   coap-probe [-i IDENTITY -k KEYFILE] [-t MS] [-m BYTES] put URI PATH INFILE
 *
 * -m: the largest answer taken (the library's body limit; default 64 KiB).
 *
 * Prints one JSON line; exit status is an enum m2m_rc.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "coap/coap.h"

static void no_requests(void *ctx, const struct m2m_coap_msg *req, struct m2m_coap_reply *rep)
{
	rep->code = (4 << 5) | 5;
}

int main(int argc, char **argv)
{
	struct m2m_coap_opts o = { .security = M2M_DM_NOSEC };
	struct m2m_secret_ref ref = { .source = M2M_SECRET_NONE, .fd = -1 };
	struct m2m_secret key = { 0 };
	struct m2m_coap_msg resp;
	struct m2m_coap *c = NULL;
	struct m2m_err err;
	unsigned timeout = 10000;
	uint8_t *body = NULL;
	char *in = NULL;
	size_t inlen = 0;
	uint64_t t0;
	bool put;
	int opt, rc;

	m2m_err_clear(&err);
	while ((opt = getopt(argc, argv, "i:k:t:m:")) != -1) {
		switch (opt) {
		case 'i':
			o.psk_identity = optarg;
			o.security = M2M_DM_PSK;
			break;
		case 'k':
			ref.source = M2M_SECRET_FILE;
			ref.path = optarg;
			break;
		case 't':
			timeout = (unsigned)atoi(optarg);
			break;
		case 'm':
			o.max_body = (size_t)strtoull(optarg, NULL, 10);
			break;
		default:
			return M2M_ERR_USAGE;
		}
	}
	if (argc - optind < 3)
		return M2M_ERR_USAGE;
	put = strcmp(argv[optind], "put") == 0;
	o.uri = argv[optind + 1];
	if (put && (argc - optind < 4 ||
		    m2m_read_file(argv[optind + 3], 64u << 20, &in, &inlen, &err))) {
		fprintf(stderr, "coap-probe: %s\n", err.msg);
		return M2M_ERR_USAGE;
	}
	if (o.security == M2M_DM_PSK) {
		rc = m2m_secret_read(&ref, "PSK", &key, &err);
		if (rc) {
			fprintf(stderr, "coap-probe: %s\n", err.msg);
			return rc;
		}
		o.psk_key = (const uint8_t *)key.buf;
		o.psk_len = key.len;
	}
	rc = mcoap_open(&o, no_requests, NULL, &c, &err);
	m2m_secret_wipe(&key);
	t0 = m2m_now_ms();
	if (!rc)
		rc = mcoap_request(c, put ? M2M_COAP_PUT : M2M_COAP_GET, argv[optind + 2], NULL,
				      put ? 42 : M2M_COAP_NONE, (const uint8_t *)in, inlen, timeout,
				      &resp, &body, &err);
	if (!rc && !put && argc - optind > 3) {
		FILE *f = fopen(argv[optind + 3], "we");

		if (!f || fwrite(resp.payload, 1, resp.len, f) != resp.len)
			rc = m2m_err_set(&err, M2M_ERR_FAILURE, "%s: cannot write", argv[optind + 3]);
		if (f)
			fclose(f);
	}
	if (rc)
		printf("{\"ok\":false,\"rc\":\"%s\",\"error\":\"%s\"}\n", m2m_rc_name(rc), err.msg);
	else
		printf("{\"ok\":true,\"code\":\"%u.%02u\",\"bytes\":%zu,\"ms\":%llu,\"dtls\":%s}\n",
		       resp.code >> 5, resp.code & 31, put ? inlen : resp.len,
		       (unsigned long long)(m2m_now_ms() - t0),
		       o.security != M2M_DM_NOSEC && mcoap_connected(c) ? "true" : "false");
	free(body);
	free(in);
	mcoap_close(c);
	return rc;
}
