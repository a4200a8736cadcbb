/* SPDX-License-Identifier: MIT */
/*
 * LwM2M 1.1's Send (TS Core 6.4.x, Information Reporting; Transport: POST
 * /dp): the values of the paths a deployment names (dm.send), pushed in one
 * message right after the Register or Update, so that a device woken by
 * cron on a metered link does not wait for the server to read them. Never
 * to a server that muted it (Server resource 23, TS Core E.2) or registered
 * us as LwM2M 1.0 (which has no Send); a server that refuses it costs a
 * warning, not the report.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "base/base.h"
#include "lwm2m/dm_int.h"

/* The values of paths as SenML (CBOR, or JSON), one base name per instance */
static int send_body(struct m2m_dm *dm, char *const *paths, bool cbor, struct lw_buf *out,
		     size_t *n_values)
{
	struct lw_records want = { 0 }, rs = { 0 };
	struct lw_path *bases = NULL;
	int rc = 0;

	for (size_t i = 0; paths[i] && !rc; i++) {
		struct lw_path p;

		/* the configuration's validator took only paths */
		if (!lw_path_parse(paths[i], strlen(paths[i]), &p) || !lw_records_add(&want, &p))
			rc = LW_INTERNAL;
	}
	if (!rc)
		rc = lw_read_composite(&dm->reg, &want, &rs, &bases);
	if (!rc)
		rc = lw_senml_encode_each(&rs, bases, cbor, out);
	*n_values = rs.n;
	free(bases);
	lw_records_free(&rs);
	lw_records_free(&want);
	return rc;
}

int lw_dm_send(struct m2m_dm *dm, char *const *paths, unsigned timeout_ms, struct m2m_err *err)
{
	uint64_t t0 = m2m_now_ms(), used;
	struct m2m_coap_msg resp;
	bool cbor = true;
	size_t n = 0, bytes = 0;
	int rc;

	if (!paths || !paths[0] || !dm->st.registered)
		return M2M_OK;
	if (dm->v10) {
		logf_(dm, LOG_NOTICE, "Send: not sent: the server registered us as LwM2M 1.0, which "
		      "has no Send; the values wait to be read");
		return M2M_OK;
	}
	if (dm->objs.mute_send) {
		logf_(dm, LOG_NOTICE, "Send: not sent: the server muted it (Server resource 23, "
		      "Mute Send); the values wait to be read");
		return M2M_OK;
	}
	do {
		struct lw_buf body = { 0 };
		uint8_t *rbody = NULL;
		int lw = send_body(dm, paths, cbor, &body, &n);

		if (lw) {
			lw_buf_free(&body);
			logf_(dm, LOG_WARNING, "Send: not sent: the paths of dm.send read %u.%02u",
			      (unsigned)lw >> 5, (unsigned)lw & 31);
			return M2M_OK;
		}
		bytes = body.len;
		used = m2m_now_ms() - t0;
		rc = mcoap_request(dm->coap, M2M_COAP_POST, "dp", NULL,
				   cbor ? LW_FMT_SENML_CBOR : LW_FMT_SENML_JSON, body.p, body.len,
				   used < timeout_ms ? timeout_ms - (unsigned)used : 1, &resp, &rbody,
				   err);
		free(rbody);
		lw_buf_free(&body);
		/* a server without SenML CBOR may still read SenML JSON (both are TS 1.1's) */
		if (!rc && cbor && resp.code == LW_UNSUPPORTED_CF) {
			logf_(dm, LOG_INFO, "Send: the server does not take SenML CBOR (4.15): "
			      "sending SenML JSON");
			cbor = false;
			continue;
		}
		break;
	} while (1);
	if (rc) {
		logf_(dm, LOG_WARNING, "Send: %s; the values wait to be read", err->msg);
		m2m_err_clear(err);
	} else if (resp.code == LW_NOT_FOUND || resp.code == LW_NOT_ALLOWED) {
		logf_(dm, LOG_WARNING, "Send: the server refused it (%u.%02u: it has no Send); "
		      "the values wait to be read", resp.code >> 5, resp.code & 31);
	} else if (resp.code >> 5 != 2) {
		logf_(dm, LOG_WARNING, "Send: the server answered %u.%02u; the values wait to be "
		      "read", resp.code >> 5, resp.code & 31);
	} else {
		logf_(dm, LOG_INFO, "sent %zu values of %s to /dp (SenML %s, %zu bytes) in %llu ms",
		      n, paths[1] ? "the dm.send paths" : paths[0], cbor ? "CBOR" : "JSON", bytes,
		      (unsigned long long)(m2m_now_ms() - t0));
	}
	return M2M_OK;
}
