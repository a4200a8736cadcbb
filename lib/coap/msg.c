/* SPDX-License-Identifier: MIT */
/*
 * A CoAP message as lib/coap reads it (struct m2m_coap_msg): options joined
 * with the path's segments kept, block and size options checked, ETag and
 * If-Match kept; for the server's requests, the answers to ours and the fuzz
 * target (mcoap_parse).
 */
#include <stdio.h>
#include <string.h>

#include "coap/coap_int.h"

/*
 * Join the values of option num with sep. Path segments keep their
 * identity: a '/' or '%' inside one is percent-encoded, so that
 * coap_split_path() gives back the same segments (lwm2m-node-lib sends
 * Location-Path "rd/1" as one segment and wants it back as one).
 */
static void join_opts(const coap_pdu_t *pdu, uint16_t num, char sep, bool lead, char *out,
		      size_t len)
{
	coap_opt_iterator_t it;
	coap_opt_filter_t f;
	coap_opt_t *opt;
	size_t n = 0;

	out[0] = 0;
	coap_option_filter_clear(&f);
	coap_option_filter_set(&f, num);
	coap_option_iterator_init(pdu, &it, &f);
	while ((opt = coap_option_next(&it))) {
		size_t l = coap_opt_length(opt);

		const uint8_t *v = coap_opt_value(opt);

		if (n + 3 * l + 2 >= len)
			break;
		if (n || lead)
			out[n++] = sep;
		for (size_t i = 0; i < l; i++) {
			if (sep == '/' && (v[i] == '/' || v[i] == '%')) {
				n += (size_t)snprintf(out + n, 4, "%%%02X", v[i]);
				continue;
			}
			out[n++] = (char)v[i];
		}
		out[n] = 0;
	}
}

static unsigned opt_uint(const coap_pdu_t *pdu, uint16_t num, unsigned dflt)
{
	coap_opt_iterator_t it;
	coap_opt_t *opt = coap_check_option(pdu, num, &it);

	if (!opt)
		return dflt;
	return coap_decode_var_bytes(coap_opt_value(opt), coap_opt_length(opt));
}

/* A Block1/Block2 option (RFC 7959 2.2): false if it is malformed (over 3 bytes, SZX 7) */
static bool block_of(const coap_pdu_t *pdu, uint16_t num, struct m2m_coap_block *b)
{
	coap_opt_iterator_t it;
	coap_opt_t *opt = coap_check_option(pdu, num, &it);
	unsigned v;

	memset(b, 0, sizeof(*b));
	if (!opt)
		return true;
	if (coap_opt_length(opt) > 3)
		return false;
	v = coap_decode_var_bytes(coap_opt_value(opt), coap_opt_length(opt));
	b->has = true;
	b->num = v >> 4;
	b->more = v & 8;
	b->szx = v & 7;
	return b->szx != 7; /* reserved (BERT, over TCP only) */
}

/* A Size1/Size2 option: false if longer than its 4 bytes (RFC 7959 4) */
static bool size_of(const coap_pdu_t *pdu, uint16_t num, bool *has, uint64_t *out)
{
	coap_opt_iterator_t it;
	coap_opt_t *opt = coap_check_option(pdu, num, &it);

	*has = opt != NULL;
	*out = 0;
	if (!opt)
		return true;
	if (coap_opt_length(opt) > 4)
		return false;
	*out = coap_decode_var_bytes8(coap_opt_value(opt), coap_opt_length(opt));
	return true;
}

void mcoap_fill_msg(const coap_pdu_t *pdu, struct m2m_coap_msg *m, bool request)
{
	coap_opt_iterator_t it;
	coap_bin_const_t tok;
	coap_opt_t *opt;
	bool has;

	memset(m, 0, sizeof(*m));
	m->code = coap_pdu_get_code(pdu);
	join_opts(pdu, request ? COAP_OPTION_URI_PATH : COAP_OPTION_LOCATION_PATH, '/', true,
		  m->path, sizeof(m->path));
	if (request)
		join_opts(pdu, COAP_OPTION_URI_QUERY, '&', false, m->query, sizeof(m->query));
	m->content_format = opt_uint(pdu, COAP_OPTION_CONTENT_FORMAT, M2M_COAP_NONE);
	m->accept = opt_uint(pdu, COAP_OPTION_ACCEPT, M2M_COAP_NONE);
	m->observe = coap_check_option(pdu, COAP_OPTION_OBSERVE, &it) ?
		     (int)opt_uint(pdu, COAP_OPTION_OBSERVE, 0) : -1;
	tok = coap_pdu_get_token(pdu);
	m->toklen = tok.length <= sizeof(m->token) ? tok.length : 0;
	if (m->toklen)
		memcpy(m->token, tok.s, m->toklen);
	if (!coap_get_data(pdu, &m->len, &m->payload)) {
		m->payload = NULL;
		m->len = 0;
	}
	m->bad_option = !block_of(pdu, COAP_OPTION_BLOCK1, &m->block1) ||
			!block_of(pdu, COAP_OPTION_BLOCK2, &m->block2) ||
			!size_of(pdu, COAP_OPTION_SIZE1, &m->has_size1, &m->size1) ||
			!size_of(pdu, COAP_OPTION_SIZE2, &has, &m->size2);
	opt = coap_check_option(pdu, COAP_OPTION_ETAG, &it);
	if (opt && coap_opt_length(opt) <= sizeof(m->etag)) {
		m->etag_len = coap_opt_length(opt);
		memcpy(m->etag, coap_opt_value(opt), m->etag_len);
	}
	coap_option_iterator_init(pdu, &it, COAP_OPT_ALL);
	while (request && (opt = coap_option_next(&it))) {
		if (it.number != COAP_OPTION_IF_MATCH)
			continue;
		if (m->n_if_match < ARRAY_SIZE(m->if_match) &&
		    coap_opt_length(opt) <= sizeof(m->if_match[0].v)) {
			m->if_match[m->n_if_match].len = coap_opt_length(opt);
			memcpy(m->if_match[m->n_if_match].v, coap_opt_value(opt),
			       coap_opt_length(opt));
		}
		m->n_if_match++; /* counted even if not kept: a tag we cannot hold never matches */
	}
}

bool mcoap_parse(const uint8_t *data, size_t len, bool request, struct m2m_coap_msg *out)
{
	coap_pdu_t *pdu;
	bool ok;

	mcoap_setup_once();
	pdu = coap_pdu_init(COAP_MESSAGE_CON, 0, 0, len + 16);
	if (!pdu)
		return false;
	ok = coap_pdu_parse(COAP_PROTO_UDP, data, len, pdu) != 0;
	if (ok)
		mcoap_fill_msg(pdu, out, request);
	coap_delete_pdu(pdu);
	return ok;
}
