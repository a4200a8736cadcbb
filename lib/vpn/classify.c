/* SPDX-License-Identifier: MIT */
/*
 * charon answers a failed "initiate" with one generic errmsg. What went wrong
 * is only in the control-log lines it streams meanwhile; scripts need to tell
 * a dead gateway from a rejected certificate from a wrong clock, so the lines
 * are matched here, most specific first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vpn/vpn_int.h"

void vpn_log_add(struct vpn_attempt_log *l, const char *msg)
{
	char *dup;

	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 32;
		char **nl;

		if (ncap > 4096) /* bounded: a chatty peer cannot exhaust memory */
			return;
		nl = realloc(l->lines, ncap * sizeof(*nl));
		if (!nl)
			return;
		l->lines = nl;
		l->cap = ncap;
	}
	dup = strdup(msg);
	if (dup)
		l->lines[l->n++] = dup;
}

void vpn_log_free(struct vpn_attempt_log *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->lines[i]);
	free(l->lines);
	memset(l, 0, sizeof(*l));
}

static const char *find(const struct vpn_attempt_log *l, const char *needle)
{
	for (size_t i = 0; i < l->n; i++)
		if (strstr(l->lines[i], needle))
			return l->lines[i];
	return NULL;
}

struct rule {
	const char *needle;
	int rc;
	const char *why; /* NULL: use the log line itself */
};

/* Order matters: the first rule that matches a line wins. */
static const struct rule rules[] = {
	/* the gateway's certificate fails our check because of its validity window */
	{ "certificate invalid (valid from", M2M_ERR_CLOCK,
	  "the gateway's certificate is not valid now (expired, not yet valid, or our clock is wrong)" },
	{ "not valid before", M2M_ERR_CLOCK, NULL },
	{ "has expired", M2M_ERR_CLOCK, NULL },
	/* the gateway rejected us */
	{ "received AUTHENTICATION_FAILED notify", M2M_ERR_AUTH_LOCAL,
	  "the gateway rejected our authentication (AUTHENTICATION_FAILED)" },
	/* the gateway rejected our EAP password (it sends no AUTHENTICATION_FAILED then) */
	{ "EAP-MS-CHAPv2 failed with error ERROR_AUTHENTICATION_FAILURE", M2M_ERR_AUTH_LOCAL,
	  "the gateway rejected our EAP password (EAP-MSCHAPv2 authentication failure)" },
	{ "EAP-MS-CHAPv2 failed", M2M_ERR_AUTH_LOCAL, NULL },
	{ "EAP authentication failed", M2M_ERR_AUTH_LOCAL, NULL },
	{ "peer requested EAP, config unacceptable", M2M_ERR_AUTH_LOCAL,
	  "the gateway asks for EAP, which the profile's auth method does not do" },
	/* we could not sign: the key is there but unusable (a token that refuses, a TPM) */
	{ "(myself) failed", M2M_ERR_CREDENTIAL, NULL },
	{ "signature for", M2M_ERR_CREDENTIAL, NULL }, /* "unable to create X signature for Y key" */
	/* we rejected the gateway */
	{ "constraint check failed", M2M_ERR_AUTH_REMOTE, NULL },
	{ "received IDr", M2M_ERR_AUTH_REMOTE, NULL }, /* "received IDr x, but require y" */
	{ "public key found for", M2M_ERR_AUTH_REMOTE, NULL },
	{ "no trusted", M2M_ERR_AUTH_REMOTE, NULL },
	{ "peer certificate verification failed", M2M_ERR_AUTH_REMOTE, NULL },
	{ "authentication of", M2M_ERR_AUTH_REMOTE, NULL },
	{ "EAP method", M2M_ERR_AUTH_LOCAL, NULL },
	/* our own credentials */
	{ "no private key found", M2M_ERR_CREDENTIAL, NULL },
	{ "no shared key found", M2M_ERR_CREDENTIAL, NULL },
	/* negotiation */
	{ "received NO_PROPOSAL_CHOSEN", M2M_ERR_PROTOCOL,
	  "the gateway accepted none of our proposals (NO_PROPOSAL_CHOSEN); is its configuration loaded?" },
	{ "received TS_UNACCEPTABLE", M2M_ERR_PROTOCOL,
	  "the gateway refused our traffic selectors (TS_UNACCEPTABLE)" },
	{ "received INTERNAL_ADDRESS_FAILURE", M2M_ERR_PROTOCOL,
	  "the gateway could not assign a virtual IP (INTERNAL_ADDRESS_FAILURE)" },
	{ "received FAILED_CP_REQUIRED", M2M_ERR_PROTOCOL,
	  "the gateway requires a virtual IP request (FAILED_CP_REQUIRED); set virtual_ip" },
	{ "received INVALID_SYNTAX", M2M_ERR_PROTOCOL, NULL },
	{ "no acceptable proposal", M2M_ERR_PROTOCOL, NULL },
	{ "received proposals unacceptable", M2M_ERR_PROTOCOL,
	  "the gateway chose a proposal we did not offer" },
	{ "no acceptable traffic selectors", M2M_ERR_PROTOCOL, NULL },
	{ "peer selected invalid traffic selectors", M2M_ERR_PROTOCOL, NULL },
	{ "configuration payload negotiation failed", M2M_ERR_PROTOCOL,
	  "the gateway assigned no virtual IP (configuration payload negotiation failed)" },
	{ "peer DH group selection invalid", M2M_ERR_PROTOCOL, NULL },
	/* any other error the gateway sent: it answered, and refused */
	{ " notify error", M2M_ERR_PROTOCOL, NULL },
	{ " notify, no CHILD_SA built", M2M_ERR_PROTOCOL, NULL },
	/* the local charon or its kernel interface could not do its part */
	{ "unable to install", M2M_ERR_DAEMON, NULL }, /* IPsec SA (SAD), policies (SPD) */
	{ "unable to allocate SPIs", M2M_ERR_DAEMON, NULL },
	{ "installing virtual IP", M2M_ERR_DAEMON, NULL }, /* "... X failed"; success says "new" */
	/* the network, not the gateway */
	{ "unable to resolve", M2M_ERR_UNREACHABLE, NULL },
	{ "error writing to socket", M2M_ERR_UNREACHABLE, NULL },
};

static bool rule_line_ok(const struct rule *r, const char *line)
{
	/* "authentication of 'x' (myself) with ... successful" is not a failure */
	if (r->rc == M2M_ERR_AUTH_REMOTE || r->rc == M2M_ERR_AUTH_LOCAL)
		return !strstr(line, "successful") && !strstr(line, "(myself)") &&
		       !strstr(line, "succeeded");
	return true;
}

/*
 * The request charon sent last and whether anything answered it, from
 * "generating IKE_AUTH request 1 [ ... ]", "retransmit 2 of request with
 * message ID 1" and "parsed IKE_AUTH response 1 [ ... ]": which exchange of
 * the handshake went unanswered.
 */
struct pending {
	bool known;
	char exchange[32];
	unsigned long mid;
	unsigned retransmits;
	bool answered;
};

static void last_request(const struct vpn_attempt_log *l, struct pending *pd)
{
	size_t at = 0;

	memset(pd, 0, sizeof(*pd));
	for (size_t i = 0; i < l->n; i++) {
		char ex[32];
		unsigned long mid;

		if (sscanf(l->lines[i], "generating %31s request %lu", ex, &mid) == 2) {
			pd->known = true;
			snprintf(pd->exchange, sizeof(pd->exchange), "%s", ex);
			pd->mid = mid;
			at = i;
		}
	}
	if (!pd->known)
		return;
	for (size_t i = at + 1; i < l->n; i++) {
		char ex[32];
		unsigned k;
		unsigned long mid;

		if (sscanf(l->lines[i], "retransmit %u of request with message ID %lu", &k, &mid) == 2 &&
		    mid == pd->mid)
			pd->retransmits++;
		else if (sscanf(l->lines[i], "parsed %31s response %lu", ex, &mid) == 2 && mid == pd->mid)
			pd->answered = true;
	}
}

int vpn_classify(const struct vpn_attempt_log *l, const char *errmsg, const char *gateway,
		 char *reason, size_t len)
{
	bool answered = find(l, "IKE_SA_INIT response") != NULL;
	bool gave_up = find(l, "peer not responding") || find(l, "giving up after");
	unsigned retransmits = 0;
	struct pending pd;

	for (size_t r = 0; r < sizeof(rules) / sizeof(rules[0]); r++) {
		for (size_t i = 0; i < l->n; i++) {
			if (!strstr(l->lines[i], rules[r].needle) ||
			    !rule_line_ok(&rules[r], l->lines[i]))
				continue;
			snprintf(reason, len, "%s", rules[r].why ? rules[r].why : l->lines[i]);
			return rules[r].rc;
		}
	}
	for (size_t i = 0; i < l->n; i++)
		if (strstr(l->lines[i], "retransmit "))
			retransmits++;
	last_request(l, &pd);
	/*
	 * The gateway answered the first exchange and then fell silent (IKE_AUTH
	 * lost on the way, or the IKE_SA_INIT after a COOKIE): as unreachable as
	 * one that never answered, but say which message went unanswered.
	 */
	if (answered && pd.known && !pd.answered && (gave_up || pd.retransmits > 0)) {
		snprintf(reason, len, "gateway %s answered IKE_SA_INIT but not %s%s (%u retransmits)",
			 gateway, strcmp(pd.exchange, "IKE_SA_INIT") == 0 ? "the IKE_SA_INIT that followed" :
			 pd.exchange, find(l, "N(COOKIE)") ? " after its COOKIE" : "", pd.retransmits);
		return M2M_ERR_UNREACHABLE;
	}
	if (!answered && (find(l, "sending packet: from 0.0.0.0[") || find(l, "sending packet: from ::["))) {
		/*
		 * charon found no local address to reach the gateway, so its send fails
		 * with ENETUNREACH; both lines are logged outside the attempt's log
		 */
		snprintf(reason, len, "no route to the gateway %s (Network is unreachable)", gateway);
		return M2M_ERR_UNREACHABLE;
	}
	if (!answered && (retransmits > 0 || gave_up)) {
		snprintf(reason, len, "gateway %s did not answer %s (%u retransmits)", gateway,
			 pd.known ? pd.exchange : "IKE_SA_INIT", retransmits);
		return M2M_ERR_UNREACHABLE;
	}
	if (errmsg && strstr(errmsg, "not established after")) {
		snprintf(reason, len, "not up within the time limit (charon: %s)", errmsg);
		return M2M_ERR_TIMEOUT;
	}
	if (!answered && find(l, "sending packet")) {
		snprintf(reason, len, "gateway %s did not answer", gateway);
		return M2M_ERR_UNREACHABLE;
	}
	snprintf(reason, len, "%s", errmsg && *errmsg ? errmsg : "establishing the tunnel failed");
	return M2M_ERR_FAILURE;
}

void vpn_classify_hint(const struct vpn_attempt_log *l, const struct m2m_vpn_profile *p,
		       char *reason, size_t len)
{
	size_t n = strlen(reason);

	/*
	 * A gateway that has no configuration for the identity we ask for (IDr,
	 * our remote_id) refuses with AUTHENTICATION_FAILED as it does for our
	 * certificate: name both, or the technician only looks at the device.
	 */
	if (p->remote_id && find(l, "received AUTHENTICATION_FAILED notify") && n < len)
		snprintf(reason + n, len - n, "; or the gateway is not '%s' (the profile's remote_id)",
			 p->remote_id);
}
