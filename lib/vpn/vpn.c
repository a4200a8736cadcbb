/* SPDX-License-Identifier: MIT */
/*
 * Profiles -> charon over VICI: credentials, connection, initiate, terminate,
 * state. charon's "initiate" is not idempotent (a second one on an up tunnel
 * fails as a duplicate), so every operation looks at the SAs first, under a
 * per-profile lock shared by one-shot "up" runs and the always-on supervisor.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "m2m/keystore.h"
#include "m2m/vpn.h"
#include "vici/vici.h"
#include "vpn/vpn_int.h"

#define NAME_PREFIX "m2m-"
/* kept back from the caller's time limit to tear down a failed attempt */
#define CLEANUP_RESERVE_MS 300
/* how late charon may answer a request whose own work is bounded */
#define ANSWER_SLACK_MS 200

struct m2m_vpn {
	const struct m2m_config *cfg;
	struct vici_conn *vc;
	bool reg_control_log, reg_list_sa;
	m2m_vpn_log_fn log;
	void *log_ctx;
	volatile const int *cancel;
};

#define VLOG(vpn, prio, ...)                                                  \
	do {                                                                  \
		if ((vpn)->log)                                               \
			(vpn)->log((vpn)->log_ctx, prio, __VA_ARGS__);        \
	} while (0)

const char *m2m_vpn_state_name(enum m2m_vpn_state s)
{
	switch (s) {
	case M2M_VPN_STATE_UP:
		return "up";
	case M2M_VPN_STATE_CONNECTING:
		return "connecting";
	default:
		return "down";
	}
}

static void conn_name(const char *profile, char *buf, size_t len)
{
	snprintf(buf, len, NAME_PREFIX "%s", profile);
}

static int remaining(uint64_t deadline)
{
	uint64_t now = m2m_now_ms();

	return now >= deadline ? 0 : (int)(deadline - now);
}

/* Time limit for one bounded request: what is left, plus a little for the answer. */
static int budget(uint64_t deadline)
{
	return remaining(deadline) + ANSWER_SLACK_MS;
}

int m2m_vpn_open(const struct m2m_config *cfg, struct m2m_vpn **out, struct m2m_err *err)
{
	struct m2m_vpn *vpn = calloc(1, sizeof(*vpn));

	if (!vpn)
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	vpn->cfg = cfg;
	m2m_keystore_set_state_dir(cfg->state_dir);
	*out = vpn;
	return M2M_OK;
}

void m2m_vpn_set_cancel(struct m2m_vpn *vpn, volatile const int *flag)
{
	vpn->cancel = flag;
	vici_set_cancel(vpn->vc, flag);
}

void m2m_vpn_set_log(struct m2m_vpn *vpn, m2m_vpn_log_fn log, void *ctx)
{
	vpn->log = log;
	vpn->log_ctx = ctx;
}

static void disconnect(struct m2m_vpn *vpn)
{
	vici_close(vpn->vc);
	vpn->vc = NULL;
	vpn->reg_control_log = vpn->reg_list_sa = false;
}

void m2m_vpn_close(struct m2m_vpn *vpn)
{
	if (!vpn)
		return;
	disconnect(vpn);
	free(vpn);
}

static int ensure_conn(struct m2m_vpn *vpn, struct m2m_err *err)
{
	const char *uri = vpn->cfg->charon.vici ? vpn->cfg->charon.vici : M2M_VICI_DEFAULT_URI;

	int rc;

	if (vpn->vc)
		return M2M_OK;
	rc = vici_connect(&vpn->vc, uri, err);
	if (!rc)
		vici_set_cancel(vpn->vc, vpn->cancel);
	return rc;
}

/* A request on the shared connection; a broken connection is dropped. */
static int request(struct m2m_vpn *vpn, const char *cmd, struct vici_buf *req,
		   struct vici_node **resp, vici_event_cb cb, void *ctx, int timeout_ms,
		   struct m2m_err *err)
{
	int rc = ensure_conn(vpn, err);

	if (rc)
		return rc;
	if (req && (rc = vici_buf_check(req, err)))
		return rc;
	rc = vici_request(vpn->vc, cmd, req, resp, cb, ctx, timeout_ms, err);
	if (rc == M2M_ERR_DAEMON || rc == M2M_ERR_PROTOCOL || rc == M2M_ERR_TIMEOUT)
		disconnect(vpn); /* the stream may be out of step now */
	return rc;
}

static int simple_cmd(struct m2m_vpn *vpn, const char *cmd, struct vici_buf *req,
		      int timeout_ms, struct m2m_err *err)
{
	struct vici_node *resp = NULL;
	int rc = request(vpn, cmd, req, &resp, NULL, NULL, timeout_ms, err);

	if (!rc)
		rc = vici_check_success(resp, cmd, err);
	vici_node_free(resp);
	return rc;
}

/* ---- state --------------------------------------------------------------- */

static uint64_t u64(const struct vici_node *n, const char *path)
{
	const char *v = vici_find_str(n, path);

	return v ? strtoull(v, NULL, 10) : 0;
}

static void copy_str(char *dst, size_t len, const struct vici_node *n, const char *path)
{
	const char *v = vici_find_str(n, path);

	snprintf(dst, len, "%s", v ? v : "");
}

/* A tunnel carries traffic in these states, rekeying included. */
static bool ike_usable(const char *s)
{
	return s && (strcmp(s, "ESTABLISHED") == 0 || strcmp(s, "REKEYING") == 0 ||
		     strcmp(s, "REKEYED") == 0);
}

static bool child_state_usable(const char *s)
{
	return s && (strcmp(s, "INSTALLED") == 0 || strcmp(s, "UPDATING") == 0 ||
		     strcmp(s, "REKEYING") == 0 || strcmp(s, "REKEYED") == 0);
}

struct sa_collect {
	const char *ike;
	struct m2m_vpn_status *st;
	int best; /* rank of what is in st: 0 none, 1 connecting, 2 up */
};

/* Rank one IKE SA of our connection and keep the best one's details. */
static void collect_sa(void *ctx, const char *event, const struct vici_node *msg)
{
	struct sa_collect *sc = ctx;
	const struct vici_node *ike, *children, *ch, *vips;
	struct m2m_vpn_status tmp;
	const char *state;
	bool child_usable;
	int rank;

	if (strcmp(event, "list-sa") != 0)
		return;
	for (ike = msg->child; ike; ike = ike->next) {
		if (ike->type != VICI_NODE_SECTION || !ike->name || strcmp(ike->name, sc->ike) != 0)
			continue;
		memset(&tmp, 0, sizeof(tmp));
		rank = 1;
		child_usable = false;
		snprintf(tmp.profile, sizeof(tmp.profile), "%s", sc->st->profile);
		state = vici_find_str(ike, "state");
		copy_str(tmp.ike_state, sizeof(tmp.ike_state), ike, "state");
		copy_str(tmp.local_host, sizeof(tmp.local_host), ike, "local-host");
		copy_str(tmp.remote_host, sizeof(tmp.remote_host), ike, "remote-host");
		copy_str(tmp.local_id, sizeof(tmp.local_id), ike, "local-id");
		copy_str(tmp.remote_id, sizeof(tmp.remote_id), ike, "remote-id");
		tmp.ike_uniqueid = (unsigned)u64(ike, "uniqueid");
		tmp.established_s = u64(ike, "established");
		tmp.encap = vici_find_yes(ike, "nat-any") || vici_find_yes(ike, "nat-local") ||
			    vici_find_yes(ike, "nat-remote");
		if (vici_find_str(ike, "encr-alg"))
			snprintf(tmp.ike_proposal, sizeof(tmp.ike_proposal), "%s%s%s/%s/%s",
				 vici_find_str(ike, "encr-alg"),
				 vici_find_str(ike, "encr-keysize") ? "-" : "",
				 vici_find_str(ike, "encr-keysize") ? vici_find_str(ike, "encr-keysize") : "",
				 vici_find_str(ike, "prf-alg") ? vici_find_str(ike, "prf-alg") : "?",
				 vici_find_str(ike, "dh-group") ? vici_find_str(ike, "dh-group") : "?");
		vips = vici_find(ike, "local-vips");
		if (vips && vips->type == VICI_NODE_LIST)
			for (const struct vici_node *it = vips->child;
			     it && tmp.n_vips < M2M_VPN_MAX_VIPS; it = it->next)
				snprintf(tmp.vips[tmp.n_vips++], sizeof(tmp.vips[0]), "%s",
					 it->value ? it->value : "");
		children = vici_find(ike, "child-sas");
		for (ch = children ? children->child : NULL; ch; ch = ch->next) {
			const char *cs = vici_find_str(ch, "state");

			if (ch->type != VICI_NODE_SECTION)
				continue;
			tmp.bytes_in += u64(ch, "bytes-in");
			tmp.bytes_out += u64(ch, "bytes-out");
			tmp.packets_in += u64(ch, "packets-in");
			tmp.packets_out += u64(ch, "packets-out");
			if (child_state_usable(cs))
				child_usable = true;
			if (cs && (child_state_usable(cs) || !tmp.child_state[0])) {
				snprintf(tmp.child_state, sizeof(tmp.child_state), "%s", cs);
				tmp.encap = tmp.encap || vici_find_yes(ch, "encap");
				if (vici_find_str(ch, "encr-alg"))
					snprintf(tmp.esp_proposal, sizeof(tmp.esp_proposal), "%s%s%s",
						 vici_find_str(ch, "encr-alg"),
						 vici_find_str(ch, "encr-keysize") ? "-" : "",
						 vici_find_str(ch, "encr-keysize") ?
							 vici_find_str(ch, "encr-keysize") : "");
			}
		}
		if (ike_usable(state) && child_usable)
			rank = 2;
		if (state && (strcmp(state, "DELETING") == 0 || strcmp(state, "DESTROYING") == 0))
			rank = 0;
		tmp.state = rank == 2 ? M2M_VPN_STATE_UP :
			    rank == 1 ? M2M_VPN_STATE_CONNECTING : M2M_VPN_STATE_DOWN;
		if (rank > sc->best) {
			*sc->st = tmp;
			sc->best = rank;
		}
	}
}

static int query_sas(struct m2m_vpn *vpn, const struct m2m_vpn_profile *p,
		     struct m2m_vpn_status *st, int timeout_ms, struct m2m_err *err)
{
	char ike[64];
	struct sa_collect sc = { .ike = ike, .st = st };
	struct vici_buf req;
	struct vici_node *resp = NULL;
	int rc;

	conn_name(p->name, ike, sizeof(ike));
	memset(st, 0, sizeof(*st));
	snprintf(st->profile, sizeof(st->profile), "%s", p->name);
	st->state = M2M_VPN_STATE_DOWN;
	rc = ensure_conn(vpn, err);
	if (rc)
		return rc;
	if (!vpn->reg_list_sa) {
		rc = vici_register(vpn->vc, "list-sa", timeout_ms, err);
		if (rc) {
			disconnect(vpn);
			return rc;
		}
		vpn->reg_list_sa = true;
	}
	vici_buf_init(&req);
	vici_add_kvs(&req, "ike", ike);
	/* no "noblock": it skips SAs that are busy, e.g. just established, which would look down */
	rc = request(vpn, "list-sas", &req, &resp, collect_sa, &sc, timeout_ms, err);
	vici_buf_free(&req);
	vici_node_free(resp);
	return rc;
}

/* ---- charon itself ---------------------------------------------------------- */

int m2m_vpn_charon_plugins(const struct m2m_config *cfg, char ***plugins, struct m2m_err *err)
{
	const char *uri = cfg->charon.vici ? cfg->charon.vici : M2M_VICI_DEFAULT_URI;
	struct vici_conn *vc = NULL;
	struct vici_node *resp = NULL;
	const struct vici_node *pl;
	size_t n = 0;
	char **out;
	int rc;

	*plugins = NULL;
	rc = vici_connect(&vc, uri, err);
	if (!rc)
		rc = vici_request(vc, "stats", NULL, &resp, NULL, NULL, 3000, err);
	vici_close(vc);
	if (rc)
		return rc;
	pl = vici_find(resp, "plugins");
	for (const struct vici_node *it = pl ? pl->child : NULL; it; it = it->next)
		n++;
	out = calloc(n + 1, sizeof(*out));
	n = 0;
	for (const struct vici_node *it = pl ? pl->child : NULL; out && it; it = it->next)
		if (it->value && (out[n] = strdup(it->value)))
			n++;
	vici_node_free(resp);
	if (!out)
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	*plugins = out;
	return M2M_OK;
}

static const struct m2m_vpn_profile *find_profile(const struct m2m_vpn *vpn, const char *name,
						  struct m2m_err *err)
{
	const struct m2m_vpn_profile *p = m2m_config_profile(vpn->cfg, name);

	if (!p)
		m2m_err_set(err, M2M_ERR_NOT_FOUND, "no VPN profile '%s' in %s", name,
			    vpn->cfg->path ? vpn->cfg->path : "the configuration");
	return p;
}

int m2m_vpn_status(struct m2m_vpn *vpn, const char *profile, struct m2m_vpn_status *st,
		   struct m2m_err *caller_err)
{
	struct m2m_err local, *err = caller_err ? caller_err : &local;
	const struct m2m_vpn_profile *p = find_profile(vpn, profile, err);
	int rc;

	if (!p)
		return M2M_ERR_NOT_FOUND;
	rc = query_sas(vpn, p, st, 5000, err);
	st->guard_active = p->fail_closed && vpn_guard_active(p->name);
	if (st->state != M2M_VPN_STATE_UP)
		vpn_last_error_load(vpn->cfg, st);
	return rc;
}

/* ---- loading ------------------------------------------------------------- */

static void add_list(struct vici_buf *b, const char *name, char **items)
{
	vici_begin_list(b, name);
	for (char **i = items; i && *i; i++)
		vici_add_items(b, *i);
	vici_end_list(b);
}

static bool any_v6(char **ts)
{
	for (char **t = ts; t && *t; t++)
		if (strchr(*t, ':'))
			return true;
	return false;
}

static int load_creds(struct m2m_vpn *vpn, const struct vpn_creds *c, int timeout_ms,
		      struct m2m_err *err)
{
	struct vici_buf b;
	int rc = M2M_OK;

	for (size_t i = 0; !rc && i < c->n_ca + c->n_chain; i++) {
		bool ca = i < c->n_ca;
		const struct der *d = ca ? &c->ca[i] : &c->chain[i - c->n_ca];

		vici_buf_init(&b);
		vici_add_kvs(&b, "type", "X509");
		vici_add_kvs(&b, "flag", ca ? "CA" : "NONE");
		vici_add_kv(&b, "data", d->data, d->len);
		rc = simple_cmd(vpn, "load-cert", &b, timeout_ms, err);
		vici_buf_free(&b);
	}
	if (rc)
		return rc;
	switch (c->key_kind) {
	case VPN_KEY_SOFT:
		vici_buf_init(&b);
		vici_add_kvs(&b, "type", c->key_type);
		vici_add_kv(&b, "data", c->key.data, c->key.len);
		rc = simple_cmd(vpn, "load-key", &b, timeout_ms, err);
		vici_buf_free(&b); /* wipes the key bytes */
		break;
	case VPN_KEY_TOKEN:
		/*
		 * A token key has no "module" (charon's name for it is its
		 * configuration's): charon asks each of its token backends for the
		 * handle, in the slot our module showed the token in, so that another
		 * token with the same CKA_ID is not taken. A TPM key names a module
		 * nothing else has: charon's tpm plugin ignores the name, its pkcs11
		 * plugin and its openssl plugin's engine (which reaches every token
		 * p11-kit knows) find nothing by it and never see the auth value as
		 * a PIN. The PIN or auth value was verified by us already.
		 */
		vici_buf_init(&b);
		vici_add_kvs(&b, "handle", c->token_handle);
		if (c->token_module)
			vici_add_kvs(&b, "module", c->token_module);
		if (c->token_has_slot)
			vici_add_kvf(&b, "slot", "%lu", c->token_slot);
		if (c->token_pin.len)
			vici_add_kv(&b, "pin", c->token_pin.buf, c->token_pin.len);
		rc = simple_cmd(vpn, "load-token", &b, timeout_ms, err);
		vici_buf_free(&b);
		if (rc == M2M_ERR_FAILURE)
			m2m_err_prefix(err, "charon could not use the key %s (are its pkcs11/tpm plugin and their TCTI or module configured in strongswan.conf?)",
				       c->token_handle);
		break;
	case VPN_KEY_NONE:
		break;
	}
	if (!rc && c->eap_secret.buf) {
		vici_buf_init(&b);
		vici_add_kvf(&b, "id", "m2m-eap-%s", c->eap_id);
		vici_add_kvs(&b, "type", "eap");
		vici_add_kv(&b, "data", c->eap_secret.buf, c->eap_secret.len);
		vici_begin_list(&b, "owners");
		vici_add_items(&b, c->eap_id);
		vici_end_list(&b);
		rc = simple_cmd(vpn, "load-shared", &b, timeout_ms, err);
		vici_buf_free(&b); /* wipes the password */
	}
	if (rc == M2M_ERR_FAILURE) {
		rc = M2M_ERR_CREDENTIAL;
		if (err)
			err->rc = rc;
	}
	return rc;
}

static void secs(struct vici_buf *b, const char *key, unsigned ms)
{
	vici_add_kvf(b, key, "%us", (ms + 999) / 1000);
}

static int load_conn(struct m2m_vpn *vpn, const struct m2m_vpn_profile *p,
		     const struct vpn_creds *c, int timeout_ms, struct m2m_err *err)
{
	bool always = p->mode == M2M_VPN_ALWAYS_ON;
	const char *local_id = p->local_id ? p->local_id : vpn->cfg->device.id;
	char name[64];
	struct vici_buf b;
	int rc;

	conn_name(p->name, name, sizeof(name));
	vici_buf_init(&b);
	vici_begin_section(&b, name);
	vici_add_kvs(&b, "version", "2");
	add_list(&b, "remote_addrs", p->gateways);
	if (p->virtual_ip) {
		vici_begin_list(&b, "vips");
		vici_add_items(&b, "0.0.0.0");
		if (any_v6(p->remote_ts))
			vici_add_items(&b, "::");
		vici_end_list(&b);
	}
	vici_add_kvs(&b, "mobike", p->mobike ? "yes" : "no");
	if (p->proposals)
		add_list(&b, "proposals", p->proposals);
	if (p->dpd_delay_ms)
		secs(&b, "dpd_delay", p->dpd_delay_ms);
	if (p->rekey_ms)
		secs(&b, "rekey_time", p->rekey_ms);
	/* on-demand: one try, the caller decides; always-on: charon retries timeouts forever */
	vici_add_kvs(&b, "keyingtries", always ? "0" : "1");
	vici_begin_section(&b, "local");
	if (p->auth == M2M_AUTH_EAP) {
		/* EAP-MSCHAPv2 alone; the gateway still proves itself with its certificate */
		vici_add_kvs(&b, "auth", "eap-mschapv2");
		vici_add_kvs(&b, "eap_id", c->eap_id);
		if (local_id)
			vici_add_kvs(&b, "id", local_id);
	} else {
		vici_add_kvs(&b, "auth", "pubkey");
		if (local_id)
			vici_add_kvs(&b, "id", local_id);
		vici_begin_list(&b, "certs");
		vici_add_item(&b, c->cert.data, c->cert.len);
		vici_end_list(&b);
	}
	vici_end_section(&b);
	if (p->auth == M2M_AUTH_CERT_EAP) {
		/* the second authentication round of RFC 4739 */
		vici_begin_section(&b, "local-2");
		vici_add_kvs(&b, "auth", "eap-mschapv2");
		vici_add_kvs(&b, "eap_id", c->eap_id);
		vici_end_section(&b);
	}
	vici_begin_section(&b, "remote");
	vici_add_kvs(&b, "auth", "pubkey");
	vici_add_kvs(&b, "id", p->remote_id);
	/* pin the gateway to our CAs, whatever else charon may trust */
	vici_begin_list(&b, "cacerts");
	for (size_t i = 0; i < c->n_ca; i++)
		vici_add_item(&b, c->ca[i].data, c->ca[i].len);
	vici_end_list(&b);
	vici_end_section(&b);
	vici_begin_section(&b, "children");
	vici_begin_section(&b, name);
	add_list(&b, "remote_ts", p->remote_ts);
	if (p->local_ts)
		add_list(&b, "local_ts", p->local_ts);
	if (p->esp_proposals)
		add_list(&b, "esp_proposals", p->esp_proposals);
	vici_add_kvs(&b, "start_action", "none");
	vici_add_kvs(&b, "dpd_action", always ? "restart" : "clear");
	vici_add_kvs(&b, "close_action", always ? "start" : "none");
	vici_end_section(&b);
	vici_end_section(&b);
	vici_end_section(&b);
	rc = simple_cmd(vpn, "load-conn", &b, timeout_ms, err);
	vici_buf_free(&b);
	if (rc == M2M_ERR_FAILURE)
		m2m_err_prefix(err, "charon refused profile %s", p->name);
	return rc;
}

/* ---- up / down ----------------------------------------------------------- */

struct initiate_ctx {
	struct m2m_vpn *vpn;
	const char *ike;
	unsigned ike_id; /* the IKE SA this attempt created: the only one we may tear down */
	struct vpn_attempt_log log;
};

static void on_control_log(void *ctx, const char *event, const struct vici_node *msg)
{
	struct initiate_ctx *ic = ctx;
	const char *line;

	if (strcmp(event, "control-log") != 0)
		return;
	line = vici_find_str(msg, "msg");
	if (!line)
		return;
	if (!ic->ike_id) {
		const char *n = vici_find_str(msg, "ikesa-name");
		const char *id = vici_find_str(msg, "ikesa-uniqueid");

		if (n && id && strcmp(n, ic->ike) == 0)
			ic->ike_id = (unsigned)strtoul(id, NULL, 10);
	}
	vpn_log_add(&ic->log, line);
	VLOG(ic->vpn, LOG_DEBUG, "charon: %s", line);
}

/*
 * Tear down the IKE SA a failed attempt of ours created, without waiting for
 * the peer, so nothing keeps retransmitting behind the caller's back. Runs
 * even when the caller is being cancelled: that is when it matters most.
 */
static void terminate_attempt(struct m2m_vpn *vpn, unsigned ike_id)
{
	volatile const int *cancel = vpn->cancel;
	struct vici_node *resp = NULL;
	struct m2m_err ignore;
	struct vici_buf b;

	if (!ike_id)
		return;
	/* a fresh stream: the old one may still owe the answer to a cancelled initiate */
	disconnect(vpn);
	vpn->cancel = NULL;
	vici_buf_init(&b);
	vici_add_kvf(&b, "ike-id", "%u", ike_id);
	vici_add_kvs(&b, "force", "yes");
	vici_add_kvs(&b, "timeout", "-1"); /* do not wait for the peer */
	vici_add_kvs(&b, "loglevel", "-1");
	request(vpn, "terminate", &b, &resp, NULL, NULL, CLEANUP_RESERVE_MS, &ignore);
	vici_buf_free(&b);
	vici_node_free(resp);
	vpn->cancel = cancel;
	if (vpn->vc)
		vici_set_cancel(vpn->vc, cancel);
}

/* Wait while charon itself is connecting (e.g. a DPD restart) until up, down or deadline. */
static int wait_connecting(struct m2m_vpn *vpn, const struct m2m_vpn_profile *p,
			   struct m2m_vpn_status *st, uint64_t deadline, struct m2m_err *err)
{
	int rc = M2M_OK;

	while (st->state == M2M_VPN_STATE_CONNECTING && remaining(deadline) > 0) {
		if (!m2m_sleep_ms(remaining(deadline) < 100 ? (unsigned)remaining(deadline) : 100,
				  vpn->cancel))
			return m2m_err_set(err, M2M_ERR_TIMEOUT, "%s: cancelled", p->name);
		rc = query_sas(vpn, p, st, budget(deadline), err);
		if (rc)
			return rc;
	}
	return rc;
}

static int clock_check(const struct m2m_vpn_profile *p, time_t nb, time_t na, struct m2m_err *err)
{
	time_t now = time(NULL);
	char when[32];
	struct tm tm;

	if (now >= nb && now <= na)
		return M2M_OK;
	gmtime_r(now < nb ? &nb : &na, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%SZ", &tm);
	if (now < nb)
		return m2m_err_set(err, M2M_ERR_CLOCK,
				   "%s: our certificate is not valid before %s (check the clock)", p->name, when);
	return m2m_err_set(err, M2M_ERR_CLOCK, "%s: our certificate expired on %s", p->name, when);
}

/*
 * Make sure charon holds the profile's credentials and connection as the
 * config says. If it still holds what we loaded last time and no input
 * changed, nothing is read or sent (*cached = true).
 */
static int load_profile(struct m2m_vpn *vpn, const struct m2m_vpn_profile *p, uint64_t deadline,
			bool force, bool *cached, struct m2m_err *err)
{
	struct vpn_creds creds;
	time_t nb, na;
	int rc;

	*cached = false;
	/* a TPM or token that does not answer must not hold "up" past its limit */
	m2m_keystore_set_deadline(deadline);
	/*
	 * Whether charon still holds it shows at "initiate" (config not found, e.g.
	 * after a charon restart): one round trip less on the common path.
	 */
	if (!force && vpn_loaded_match(vpn->cfg, p, &nb, &na)) {
		rc = vpn_creds_check(p, err);
		if (rc) {
			/* what charon holds may no longer be used: load it anew next time */
			vpn_loaded_forget(vpn->cfg, p->name);
			return rc;
		}
		*cached = true;
		return clock_check(p, nb, na, err);
	}
	/* our own credentials first: an expired certificate is a clock problem, not an auth one */
	rc = vpn_creds_load(p, &creds, err);
	if (rc)
		return rc;
	rc = load_creds(vpn, &creds, budget(deadline), err);
	if (!rc)
		rc = load_conn(vpn, p, &creds, budget(deadline), err);
	if (!rc)
		vpn_loaded_save(vpn->cfg, p, &creds);
	else
		vpn_loaded_forget(vpn->cfg, p->name);
	vpn_creds_free(&creds);
	return rc;
}

static int do_up(struct m2m_vpn *vpn, const struct m2m_vpn_profile *p, uint64_t deadline,
		 bool want_status, struct m2m_vpn_status *st, struct m2m_err *err)
{
	bool cached, notfound = false, tpm_retried = false;
	char name[64], reason[300];
	struct initiate_ctx ic = { .vpn = vpn, .ike = name };
	struct vici_node *resp = NULL;
	struct m2m_err refused;
	struct vici_buf b;
	uint64_t started;
	int rc, t;

	conn_name(p->name, name, sizeof(name));
	rc = query_sas(vpn, p, st, budget(deadline), err);
	if (rc)
		return rc;
	if (st->state == M2M_VPN_STATE_CONNECTING) {
		VLOG(vpn, LOG_INFO, "%s: charon is already connecting; waiting", p->name);
		rc = wait_connecting(vpn, p, st, deadline, err);
		if (rc)
			return rc;
	}
	if (st->state == M2M_VPN_STATE_UP) {
		/* the rules were flushed: an "up" that cannot put them back is no success */
		if (p->fail_closed && !vpn_guard_active(p->name))
			return vpn_guard_enable(vpn->cfg, p, err);
		return M2M_OK;
	}
	if (st->state == M2M_VPN_STATE_CONNECTING) {
		/* charon's own attempt (a DPD restart, say): not ours to tear down */
		return m2m_err_set(err, M2M_ERR_TIMEOUT,
				   "%s: charon is still connecting (its own retry) at the time limit",
				   p->name);
	}

	if (p->fail_closed && (rc = vpn_guard_enable(vpn->cfg, p, err)))
		return rc;
	rc = load_profile(vpn, p, deadline, false, &cached, err);
	if (rc)
		return rc;

again:
	if (!vpn->reg_control_log) {
		rc = vici_register(vpn->vc, "control-log", budget(deadline), err);
		if (rc) {
			disconnect(vpn);
			return rc;
		}
		vpn->reg_control_log = true;
	}
	/* charon's own limit; what is left after it is for tearing a failure down */
	t = remaining(deadline) - CLEANUP_RESERVE_MS;
	if (t < 1)
		t = 1;
	ic.ike_id = 0;
	vici_buf_init(&b);
	vici_add_kvs(&b, "child", name);
	vici_add_kvs(&b, "ike", name);
	vici_add_kvf(&b, "timeout", "%d", t);
	vici_add_kvs(&b, "loglevel", "1");
	VLOG(vpn, LOG_INFO, "%s: initiating to %s", p->name, p->gateways[0]);
	started = m2m_now_ms();
	/* charon answers by itself once its timeout passed */
	rc = request(vpn, "initiate", &b, &resp, on_control_log, &ic, t + ANSWER_SLACK_MS, err);
	vici_buf_free(&b);
	if (!rc) {
		const char *ok = vici_find_str(resp, "success");

		if (!ok || strcmp(ok, "yes") != 0) {
			const char *em = vici_find_str(resp, "errmsg");

			notfound = em && strstr(em, "not found");
			rc = vpn_classify(&ic.log, em, p->gateways[0], reason, sizeof(reason));
			m2m_err_set(err, rc, "%s: %s", p->name, reason);
		}
	} else if (rc == M2M_ERR_TIMEOUT) {
		/* charon did not even answer in time (or we were cancelled) */
		int crc = vpn_classify(&ic.log, NULL, p->gateways[0], reason, sizeof(reason));

		if (crc == M2M_ERR_FAILURE)
			snprintf(reason, sizeof(reason), "not up within the time limit (%s)",
				 vpn->cancel && *vpn->cancel ? "cancelled" : "charon did not answer");
		rc = m2m_err_set(err, crc == M2M_ERR_FAILURE ? M2M_ERR_TIMEOUT : crc, "%s: %s",
				 p->name, reason);
	}
	vici_node_free(resp);
	resp = NULL;
	vpn_log_free(&ic.log);
	if (rc && tpm_retried && (rc == M2M_ERR_TIMEOUT || rc == M2M_ERR_UNREACHABLE) &&
	    !(vpn->cancel && *vpn->cancel)) {
		/* the second try ran out of time: the gateway's refusal is the answer */
		*err = refused;
		rc = err->rc;
	}
	if (rc) {
		/* leave nothing half-open behind: charon would keep retransmitting */
		terminate_attempt(vpn, ic.ike_id);
		if (cached && (notfound || rc == M2M_ERR_CREDENTIAL)) {
			/*
			 * charon lost what we loaded (restarted: config not found;
			 * credentials cleared: no private key):
			 * once more, fully; a full load is never cached, so this ends
			 */
			vpn_loaded_forget(vpn->cfg, p->name);
			if (remaining(deadline) > 500) {
				if (!notfound)
					VLOG(vpn, LOG_INFO, "%s: %s; reloading credentials and trying again",
					     p->name, err->msg);
				rc = load_profile(vpn, p, deadline, true, &cached, err);
				if (rc)
					return rc;
				notfound = false;
				goto again;
			}
		}
		if (rc == M2M_ERR_AUTH_LOCAL && p->auth == M2M_AUTH_TPM && !tpm_retried &&
		    (uint64_t)remaining(deadline) > m2m_now_ms() - started + 1000) {
			/*
			 * charon's TPM signer (libtpmtss, strongSwan 5.9) DER-encodes an
			 * ECDSA signature from the TPM's zero-padded r and s without
			 * stripping the padding: about 1 signature in 128 is not valid
			 * DER and the gateway refuses it. A new signature has a new
			 * random r and s; a real refusal just fails once more.
			 */
			tpm_retried = true;
			refused = *err;
			VLOG(vpn, LOG_INFO, "%s: %s; once more with a new TPM signature", p->name,
			     err->msg);
			goto again;
		}
		return rc;
	}
	if (!want_status)
		return M2M_OK;
	return query_sas(vpn, p, st, 2000, err);
}

int m2m_vpn_up(struct m2m_vpn *vpn, const char *profile, unsigned timeout_ms,
	       struct m2m_vpn_status *status, struct m2m_err *caller_err)
{
	struct m2m_err local, *err = caller_err ? caller_err : &local;
	const struct m2m_vpn_profile *p = find_profile(vpn, profile, err);
	struct m2m_vpn_status st;
	uint64_t deadline;
	int rc, lock = -1;

	if (!p)
		return M2M_ERR_NOT_FOUND;
	deadline = m2m_now_ms() + (timeout_ms ? timeout_ms : p->timeout_ms ? p->timeout_ms : 30000);
	/* another up (or watch) may be mid-attempt: wait for it as long as we may */
	rc = vpn_profile_lock(vpn->cfg, p->name, (unsigned)remaining(deadline), &lock, err);
	if (rc)
		return rc;
	rc = do_up(vpn, p, deadline, status != NULL, &st, err);
	vpn_last_error_save(vpn->cfg, p->name, rc, rc ? err->msg : "");
	m2m_unlock(lock);
	if (!rc && status) {
		*status = st;
		status->guard_active = p->fail_closed && vpn_guard_active(p->name);
	}
	return rc;
}

int m2m_vpn_down(struct m2m_vpn *vpn, const char *profile, unsigned timeout_ms,
		 struct m2m_err *caller_err)
{
	struct m2m_err local, *err = caller_err ? caller_err : &local;
	const struct m2m_vpn_profile *p = find_profile(vpn, profile, err);
	struct vici_node *resp = NULL;
	struct vici_buf b;
	char name[64];
	int rc, t, lock = -1;
	uint64_t deadline;

	if (!p)
		return M2M_ERR_NOT_FOUND;
	deadline = m2m_now_ms() + (timeout_ms ? timeout_ms : 10000);
	/* a running watch would bring it straight back: say so instead */
	if (vpn_watch_running(vpn->cfg, p->name))
		return m2m_err_set(err, M2M_ERR_BUSY,
				   "%s: kept up by a running 'm2mvpn-connect watch'; stop that first",
				   p->name);
	rc = vpn_profile_lock(vpn->cfg, p->name, (unsigned)remaining(deadline), &lock, err);
	if (rc)
		return rc;
	conn_name(p->name, name, sizeof(name));
	rc = ensure_conn(vpn, err);
	if (rc == M2M_ERR_DAEMON) {
		/* no charon, no tunnel: down already; only the guard may remain */
		VLOG(vpn, LOG_INFO, "%s: %s; nothing to terminate", p->name, err->msg);
		rc = M2M_OK;
		goto guard;
	}
	if (rc)
		goto out;
	t = remaining(deadline);
	vici_buf_init(&b);
	vici_add_kvs(&b, "ike", name);
	vici_add_kvs(&b, "force", "yes"); /* a dead peer must not hold us up */
	vici_add_kvf(&b, "timeout", "%d", t > 3000 ? 3000 : t);
	vici_add_kvs(&b, "loglevel", "-1");
	rc = request(vpn, "terminate", &b, &resp, NULL, NULL, t + 2000, err);
	vici_buf_free(&b);
	if (!rc) {
		const char *ok = vici_find_str(resp, "success");
		const char *em = vici_find_str(resp, "errmsg");

		if (ok && strcmp(ok, "yes") != 0 && !(em && strstr(em, "no matching")))
			rc = m2m_err_set(err, M2M_ERR_FAILURE, "%s: terminate: %s", p->name,
					 em ? em : "failed");
	}
	vici_node_free(resp);
	resp = NULL;
	if (rc)
		goto out;
	/*
	 * unload an always-on profile, so charon's restart policies cannot bring it
	 * back; an on-demand one has none and stays loaded for a quick next "up"
	 */
	if (p->mode == M2M_VPN_ALWAYS_ON) {
		vici_buf_init(&b);
		vici_add_kvs(&b, "name", name);
		request(vpn, "unload-conn", &b, &resp, NULL, NULL, budget(deadline), NULL);
		vici_buf_free(&b);
		vici_node_free(resp);
		vpn_loaded_forget(vpn->cfg, p->name);
	}
guard:
	rc = vpn_guard_disable(vpn->cfg, p, err);
	if (!rc)
		vpn_last_error_save(vpn->cfg, p->name, M2M_OK, "");
out:
	m2m_unlock(lock);
	return rc;
}
