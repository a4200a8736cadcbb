/* SPDX-License-Identifier: MIT */
/*
 * TEST TOOL, NOT AN INDEPENDENT IMPLEMENTATION: a minimal LwM2M bootstrap
 * server of the project's own, on libcoap, because no bootstrap server
 * installs on this machine (lwm2m-node-lib has none). It checks the
 * client's side of the bootstrap interface, not interoperability.
 *
 *   bs-server -p PORT -u SERVER-URI [-m 0|2|3] [-i IDENTITY] [-k KEYFILE] [-l LIFETIME]
 *             [-t TIMEOUT-MS] [-C CERT.der -K KEY.der -S SERVER-CERT.der]
 *
 * Mode 0 (PSK) writes IDENTITY and the key in KEYFILE; mode 2 (certificate)
 * the client's certificate, its private key and the server's certificate,
 * read from DER files.
 *
 * Waits for a Bootstrap-Request (POST /bs?ep=...), then sends Bootstrap-
 * Delete /, Bootstrap-Write /0/1 (the LwM2M server and its credentials,
 * TLV) and /1/1 (short server id, lifetime, binding), Bootstrap-Discover /,
 * Bootstrap-Read of /1/1 (SenML JSON) and of /0/1 (to be refused: it holds
 * the credentials) and Bootstrap-Finish. One JSON line per step; exit 0 if
 * every step got the expected answer.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <coap3/coap.h>

#include "base/base.h"
#include "lwm2m/lwm2m.h"

static coap_session_t *client;
static int step = -1;       /* -1: waiting for the Bootstrap-Request */
static bool waiting, failed;
static const char *server_uri, *identity = "";
static struct m2m_secret key;
static int mode = 3;
static char *der_cert, *der_key, *der_server;
static size_t der_cert_len, der_key_len, der_server_len;
static long lifetime = 300;
static char ep[128];

static void on_bs(coap_resource_t *r, coap_session_t *s, const coap_pdu_t *req,
		  const coap_string_t *q, coap_pdu_t *resp)
{
	const char *e = q ? strstr((const char *)q->s, "ep=") : NULL;

	snprintf(ep, sizeof(ep), "%.*s", e ? (int)strcspn(e + 3, "&") : 0, e ? e + 3 : "");
	if (e && (size_t)(e + 3 - (const char *)q->s) + strlen(ep) > q->length)
		ep[0] = 0;
	printf("{\"step\":\"request\",\"ep\":\"%s\"}\n", ep);
	fflush(stdout);
	coap_pdu_set_code(resp, COAP_RESPONSE_CODE(204));
	if (!client) {
		client = coap_session_reference(s);
		step = 0;
	}
}

static const struct {
	const char *name;
	coap_pdu_code_t method;
	const char *path;
	unsigned accept; /* 0: none */
	unsigned want;
} steps[] = {
	{ "delete", COAP_REQUEST_CODE_DELETE, NULL, 0, 202 },
	{ "write-security", COAP_REQUEST_CODE_PUT, "0/1", 0, 204 },
	{ "write-server", COAP_REQUEST_CODE_PUT, "1/1", 0, 204 },
	{ "discover", COAP_REQUEST_CODE_GET, NULL, LW_FMT_LINK, 205 },
	{ "read-server", COAP_REQUEST_CODE_GET, "1/1", LW_FMT_SENML_JSON, 205 },
	{ "read-security", COAP_REQUEST_CODE_GET, "0/1", LW_FMT_SENML_JSON, 401 },
	{ "finish", COAP_REQUEST_CODE_POST, "bs", 0, 204 },
};

static coap_response_t on_response(coap_session_t *s, const coap_pdu_t *sent,
				   const coap_pdu_t *recv, const coap_mid_t mid)
{
	coap_pdu_code_t code = coap_pdu_get_code(recv);
	unsigned c = (code >> 5) * 100 + (code & 31);
	const uint8_t *data = NULL;
	size_t len = 0;

	coap_get_data(recv, &len, &data);
	printf("{\"step\":\"%s\",\"code\":\"%u.%02u\",\"ok\":%s,\"payload\":\"", steps[step].name,
	       c / 100, c % 100, c == steps[step].want ? "true" : "false");
	/* a GET's answer as a JSON string (SenML JSON has quotes of its own) */
	for (size_t i = 0; steps[step].method == COAP_REQUEST_CODE_GET && i < len; i++)
		if (data[i] == '"' || data[i] == '\\')
			printf("\\%c", data[i]);
		else if (data[i] >= 0x20 && data[i] < 0x7f)
			putchar(data[i]);
	printf("\"}\n");
	fflush(stdout);
	if (c != steps[step].want)
		failed = true;
	step++;
	waiting = false;
	return COAP_RESPONSE_OK;
}

static void add_rec(struct lw_records *rs, uint16_t o, uint16_t res, enum lw_type t, int64_t i,
		    const void *p, size_t len)
{
	struct lw_path path = { { o, 1, res, 0 }, 3 };
	struct lw_record *r = lw_records_add(rs, &path);

	if (!r)
		exit(1);
	if (p) {
		lw_value_set_bytes(&r->v, t, p, len);
	} else {
		r->v.type = t;
		r->v.i = i;
	}
}

static void release(coap_session_t *s, void *p)
{
	free(p);
}

static void send_step(void)
{
	coap_pdu_t *pdu = coap_pdu_init(COAP_MESSAGE_CON, steps[step].method,
					coap_new_message_id(client), coap_session_max_pdu_size(client));
	struct lw_records rs = { 0 };
	struct lw_path base = { { step == 1 ? 0 : 1, 1, 0, 0 }, 2 };
	struct lw_buf b = { 0 };
	uint8_t tok[8], buf[4];
	size_t toklen;

	coap_session_new_token(client, &toklen, tok);
	coap_add_token(pdu, toklen, tok);
	if (steps[step].path) {
		char p[16], *seg, *save = NULL;

		snprintf(p, sizeof(p), "%s", steps[step].path);
		for (seg = strtok_r(p, "/", &save); seg; seg = strtok_r(NULL, "/", &save))
			coap_add_option(pdu, COAP_OPTION_URI_PATH, strlen(seg), (const uint8_t *)seg);
	}
	if (step == 1) {
		add_rec(&rs, 0, 0, LW_STRING, 0, server_uri, strlen(server_uri));
		add_rec(&rs, 0, 1, LW_BOOLEAN, 0, NULL, 0);
		add_rec(&rs, 0, 2, LW_INTEGER, mode, NULL, 0);
		if (mode == 2) {
			add_rec(&rs, 0, 3, LW_OPAQUE, 0, der_cert, der_cert_len);
			add_rec(&rs, 0, 4, LW_OPAQUE, 0, der_server, der_server_len);
			add_rec(&rs, 0, 5, LW_OPAQUE, 0, der_key, der_key_len);
		} else {
			add_rec(&rs, 0, 3, LW_OPAQUE, 0, identity, strlen(identity));
			add_rec(&rs, 0, 5, LW_OPAQUE, 0, key.buf ? key.buf : "", key.len);
		}
		add_rec(&rs, 0, 10, LW_INTEGER, 1, NULL, 0);
	} else if (step == 2) {
		add_rec(&rs, 1, 0, LW_INTEGER, 1, NULL, 0);
		add_rec(&rs, 1, 1, LW_INTEGER, lifetime, NULL, 0);
		add_rec(&rs, 1, 7, LW_STRING, 0, "U", 1);
	}
	if (rs.n) {
		lw_tlv_encode(&rs, &base, &b);
		coap_add_option(pdu, COAP_OPTION_CONTENT_FORMAT,
				coap_encode_var_safe(buf, sizeof(buf), LW_FMT_TLV), buf);
		/* a certificate-mode write is larger than one datagram: Block1 */
		coap_add_data_large_request(client, pdu, b.len, b.p, release, b.p);
		b.p = NULL; /* libcoap's until the transfer ends */
	}
	if (steps[step].accept)
		coap_add_option(pdu, COAP_OPTION_ACCEPT,
				coap_encode_var_safe(buf, sizeof(buf), steps[step].accept), buf);
	lw_records_free(&rs);
	lw_buf_free(&b);
	waiting = true;
	coap_send(client, pdu);
}

int main(int argc, char **argv)
{
	struct m2m_secret_ref ref = { .source = M2M_SECRET_NONE, .fd = -1 };
	struct m2m_err err;
	coap_context_t *ctx;
	coap_address_t addr;
	coap_resource_t *r;
	long timeout = 20000;
	uint64_t end;
	int port = 0, opt;

	while ((opt = getopt(argc, argv, "p:u:m:i:k:l:t:C:K:S:")) != -1) {
		switch (opt) {
		case 'C':
		case 'K':
		case 'S':
			if (m2m_read_file(optarg, 65536, opt == 'C' ? &der_cert : opt == 'K' ?
					  &der_key : &der_server, opt == 'C' ? &der_cert_len :
					  opt == 'K' ? &der_key_len : &der_server_len, &err)) {
				fprintf(stderr, "bs-server: %s\n", err.msg);
				return 2;
			}
			break;
		case 'p': port = atoi(optarg); break;
		case 'u': server_uri = optarg; break;
		case 'm': mode = atoi(optarg); break;
		case 'i': identity = optarg; break;
		case 'k': ref.source = M2M_SECRET_FILE; ref.path = optarg; break;
		case 'l': lifetime = atol(optarg); break;
		case 't': timeout = atol(optarg); break;
		default: return 2;
		}
	}
	if (!port || !server_uri || (mode == 2 && (!der_cert || !der_key || !der_server)))
		return 2;
	if (ref.source == M2M_SECRET_FILE && m2m_secret_read(&ref, "PSK", &key, &err)) {
		fprintf(stderr, "bs-server: %s\n", err.msg);
		return 2;
	}
	coap_startup();
	coap_set_log_level(LOG_EMERG);
	ctx = coap_new_context(NULL);
	if (ctx)
		coap_context_set_block_mode(ctx, COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY);
	coap_address_init(&addr);
	addr.addr.sin.sin_family = AF_INET;
	addr.addr.sin.sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, "127.0.0.1", &addr.addr.sin.sin_addr);
	addr.size = sizeof(addr.addr.sin);
	if (!ctx || !coap_new_endpoint(ctx, &addr, COAP_PROTO_UDP)) {
		fprintf(stderr, "bs-server: cannot listen on 127.0.0.1:%d\n", port);
		return 2;
	}
	r = coap_resource_init(coap_make_str_const("bs"), 0);
	coap_register_handler(r, COAP_REQUEST_POST, on_bs);
	coap_add_resource(ctx, r);
	coap_register_response_handler(ctx, on_response);
	printf("{\"step\":\"listening\",\"port\":%d}\n", port);
	fflush(stdout);
	end = m2m_now_ms() + (uint64_t)timeout;
	while (m2m_now_ms() < end && step < (int)(sizeof(steps) / sizeof(steps[0])) && !failed) {
		coap_io_process(ctx, 50);
		if (step >= 0 && !waiting && step < (int)(sizeof(steps) / sizeof(steps[0])))
			send_step();
	}
	/* give the last ACK time to go */
	coap_io_process(ctx, 50);
	if (client)
		coap_session_release(client);
	coap_free_context(ctx);
	m2m_secret_wipe(&key);
	printf("{\"step\":\"summary\",\"ok\":%s}\n",
	       !failed && step == (int)(sizeof(steps) / sizeof(steps[0])) ? "true" : "false");
	return failed || step != (int)(sizeof(steps) / sizeof(steps[0]));
}
