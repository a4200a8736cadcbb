/*
 * Failure classification from charon's control-log lines, as captured on the
 * lab; and what the VPN module tells charon about its plugins (charon-conf).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "m2m/m2m.h"
#include "m2m/vpn.h"
#include "vpn/vpn_int.h"

static int classify(const char *const *lines, const char *errmsg, char *reason, size_t len)
{
	struct vpn_attempt_log l = { 0 };
	int rc;

	for (const char *const *p = lines; *p; p++)
		vpn_log_add(&l, *p);
	rc = vpn_classify(&l, errmsg, "10.99.0.1", reason, len);
	vpn_log_free(&l);
	return rc;
}

static const char *const init_sent[] = {
	"initiating IKE_SA m2m-pos[1] to 10.99.0.1",
	"generating IKE_SA_INIT request 0 [ SA KE No N(NATD_S_IP) N(NATD_D_IP) N(FRAG_SUP) N(HASH_ALG) N(REDIR_SUP) ]",
	"sending packet: from 10.99.0.2[500] to 10.99.0.1[500] (264 bytes)",
	NULL,
};

static void test_unreachable_gave_up(void **state)
{
	const char *const lines[] = {
		init_sent[0], init_sent[1], init_sent[2],
		"retransmit 1 of request with message ID 0",
		"sending packet: from 10.99.0.2[500] to 10.99.0.1[500] (264 bytes)",
		"retransmit 2 of request with message ID 0",
		"giving up after 2 retransmits",
		"establishing IKE_SA failed, peer not responding",
		NULL,
	};
	char r[300];

	(void)state;
	assert_int_equal(classify(lines, "establishing CHILD_SA 'm2m-pos' failed", r, sizeof(r)),
			 M2M_ERR_UNREACHABLE);
	assert_string_equal(r, "gateway 10.99.0.1 did not answer IKE_SA_INIT (2 retransmits)");
}

static void test_unreachable_within_timeout(void **state)
{
	const char *const lines[] = { init_sent[0], init_sent[1], init_sent[2],
				      "retransmit 1 of request with message ID 0", NULL };
	char r[300];

	(void)state;
	assert_int_equal(classify(lines, "CHILD_SA 'm2m-pos' not established after 2000ms", r, sizeof(r)),
			 M2M_ERR_UNREACHABLE);
	/* no retransmit yet: too early to call the gateway dead, it is a plain timeout */
	assert_int_equal(classify(init_sent, "CHILD_SA 'm2m-pos' not established after 200ms", r,
				  sizeof(r)),
			 M2M_ERR_TIMEOUT);
	/* charon failed the attempt without an answer ever coming */
	assert_int_equal(classify(init_sent, "establishing CHILD_SA 'm2m-pos' failed", r, sizeof(r)),
			 M2M_ERR_UNREACHABLE);
}

static void test_timeout_after_answer(void **state)
{
	const char *const lines[] = {
		init_sent[0], init_sent[1], init_sent[2],
		"received packet: from 10.99.0.1[500] to 10.99.0.2[500] (297 bytes)",
		"parsed IKE_SA_INIT response 0 [ SA KE No N(NATD_S_IP) N(NATD_D_IP) CERTREQ N(FRAG_SUP) ]",
		"retransmit 1 of request with message ID 1",
		NULL,
	};
	char r[300];

	(void)state;
	assert_int_equal(classify(lines, "CHILD_SA 'm2m-pos' not established after 1000ms", r, sizeof(r)),
			 M2M_ERR_TIMEOUT);
}

static void test_auth_local(void **state)
{
	const char *const lines[] = {
		"authentication of 'dev1.lab' (myself) with ECDSA_WITH_SHA256_DER successful",
		"parsed IKE_AUTH response 1 [ N(AUTH_FAILED) ]",
		"received AUTHENTICATION_FAILED notify error",
		NULL,
	};
	char r[300];

	(void)state;
	assert_int_equal(classify(lines, "establishing CHILD_SA 'm2m-pos' failed", r, sizeof(r)),
			 M2M_ERR_AUTH_LOCAL);
	assert_non_null(strstr(r, "AUTHENTICATION_FAILED"));
}

/* charon 5.9.8's lines when the gateway rejects an EAP-MSCHAPv2 password */
static void test_eap_password_wrong(void **state)
{
	const char *const lines[] = {
		"authentication of 'gw.lab' with ECDSA_WITH_SHA256_DER successful",
		"server requested EAP_IDENTITY (id 0x00), sending 'user1'",
		"server requested EAP_MSCHAPV2 authentication (id 0x6C)",
		"EAP-MS-CHAPv2 failed with error ERROR_AUTHENTICATION_FAILURE: '(null)'",
		"EAP_MSCHAPV2 method failed",
		"generating INFORMATIONAL request 4 [ N(AUTH_FAILED) ]",
		NULL,
	};
	char r[300];

	(void)state;
	assert_int_equal(classify(lines, "establishing CHILD_SA 'm2m-eap' failed", r, sizeof(r)),
			 M2M_ERR_AUTH_LOCAL);
	assert_non_null(strstr(r, "EAP password"));
}

static void test_auth_remote(void **state)
{
	const char *const constraint[] = {
		"authentication of 'dev1.lab' (myself) with ECDSA_WITH_SHA256_DER successful",
		"received end entity cert \"C=XX, O=LabTunnel, CN=gw.lab\"",
		"constraint check failed: peer not authenticated by CA 'CN=Rogue CA'",
		"selected peer config 'm2m-pos' unacceptable: constraint checking failed",
		NULL,
	};
	const char *const nokey[] = {
		"no issuer certificate found for \"C=XX, O=LabTunnel, CN=gw.lab\"",
		"no trusted ECDSA public key found for 'gw.lab'",
		NULL,
	};
	char r[300];

	(void)state;
	assert_int_equal(classify(constraint, "establishing CHILD_SA 'm2m-pos' failed", r, sizeof(r)),
			 M2M_ERR_AUTH_REMOTE);
	assert_string_equal(r, "constraint check failed: peer not authenticated by CA 'CN=Rogue CA'");
	assert_int_equal(classify(nokey, "establishing CHILD_SA 'm2m-pos' failed", r, sizeof(r)),
			 M2M_ERR_AUTH_REMOTE);
}

static void test_success_lines_are_not_failures(void **state)
{
	const char *const lines[] = {
		"authentication of 'dev1.lab' (myself) with ECDSA_WITH_SHA256_DER successful",
		"authentication of 'gw.lab' with ECDSA_WITH_SHA256_DER successful",
		"EAP method EAP_MSCHAPV2 succeeded, MSK established",
		"received packet: from 10.99.0.1[4500] to 10.99.0.2[4500] (736 bytes)",
		"parsed IKE_SA_INIT response 0 [ SA KE No ]",
		NULL,
	};
	char r[300];

	(void)state;
	assert_int_equal(classify(lines, "establishing CHILD_SA 'm2m-pos' failed", r, sizeof(r)),
			 M2M_ERR_FAILURE);
	assert_string_equal(r, "establishing CHILD_SA 'm2m-pos' failed");
}

static void test_clock_of_gateway(void **state)
{
	const char *const lines[] = {
		"  subject certificate invalid (valid from Nov 20 10:00:00 UTC 2026 to Nov 22 10:00:00 UTC 2026)",
		"no trusted ECDSA public key found for 'gw.lab'",
		NULL,
	};
	char r[300];

	(void)state;
	/* the clock rule wins over the generic "no trusted key" */
	assert_int_equal(classify(lines, "establishing CHILD_SA 'm2m-pos' failed", r, sizeof(r)),
			 M2M_ERR_CLOCK);
}

/*
 * The gateway answers IKE_SA_INIT, the IKE_AUTH (large, UDP/4500) never gets
 * through: charon 5.9.8's lines on the lab (tests/integration/31-lost-ike-auth.t).
 */
static const char *const auth_lost[] = {
	"initiating IKE_SA m2m-pos[1] to 10.99.0.1",
	"generating IKE_SA_INIT request 0 [ SA KE No N(NATD_S_IP) N(NATD_D_IP) N(FRAG_SUP) N(HASH_ALG) N(REDIR_SUP) ]",
	"sending packet: from 10.99.0.2[500] to 10.99.0.1[500] (264 bytes)",
	"received packet: from 10.99.0.1[500] to 10.99.0.2[500] (297 bytes)",
	"parsed IKE_SA_INIT response 0 [ SA KE No N(NATD_S_IP) N(NATD_D_IP) CERTREQ N(FRAG_SUP) N(HASH_ALG) N(CHDLESS_SUP) N(MULT_AUTH) ]",
	"selected proposal: IKE:AES_GCM_16_256/PRF_HMAC_SHA2_256/ECP_256",
	"remote host is behind NAT",
	"received cert request for \"C=XX, O=m2m test lab, CN=m2m lab root CA\"",
	"sending cert request for \"C=XX, O=m2m test lab, CN=m2m lab root CA\"",
	"authentication of 'dev1.lab' (myself) with ECDSA_WITH_SHA256_DER successful",
	"sending end entity cert \"C=XX, O=m2m test lab, CN=dev1.lab\"",
	"establishing CHILD_SA m2m-pos{1}",
	"generating IKE_AUTH request 1 [ IDi CERT N(INIT_CONTACT) CERTREQ IDr AUTH CPRQ(ADDR) SA TSi TSr N(MOBIKE_SUP) N(NO_ADD_ADDR) N(MULT_AUTH) N(EAP_ONLY) N(MSG_ID_SYN_SUP) ]",
	"sending packet: from 10.99.0.2[4500] to 10.99.0.1[4500] (797 bytes)",
	"retransmit 1 of request with message ID 1",
	"sending packet: from 10.99.0.2[4500] to 10.99.0.1[4500] (797 bytes)",
	"retransmit 2 of request with message ID 1",
	"sending packet: from 10.99.0.2[4500] to 10.99.0.1[4500] (797 bytes)",
	"giving up after 2 retransmits",
	"establishing IKE_SA failed, peer not responding",
	NULL,
};

static void test_lost_ike_auth(void **state)
{
	char r[300];

	(void)state;
	assert_int_equal(classify(auth_lost, "establishing CHILD_SA 'm2m-pos' failed", r, sizeof(r)),
			 M2M_ERR_UNREACHABLE);
	assert_string_equal(r, "gateway 10.99.0.1 answered IKE_SA_INIT but not IKE_AUTH (2 retransmits)");
}

/* the same, cut short by the caller's time limit after one retransmit */
static void test_lost_ike_auth_at_deadline(void **state)
{
	const char *lines[32];
	size_t n = 0;
	char r[300];

	(void)state;
	for (; auth_lost[n] && strncmp(auth_lost[n], "retransmit 2", 12) != 0; n++)
		lines[n] = auth_lost[n];
	lines[n] = NULL;
	assert_int_equal(classify(lines, "CHILD_SA 'm2m-pos' not established after 3000ms", r, sizeof(r)),
			 M2M_ERR_UNREACHABLE);
	assert_non_null(strstr(r, "but not IKE_AUTH (1 retransmits)"));
	/* IKE_AUTH sent, no retransmit yet: too early to call it lost */
	for (n = 0; auth_lost[n] && strncmp(auth_lost[n], "retransmit 1", 12) != 0; n++)
		lines[n] = auth_lost[n];
	lines[n] = NULL;
	assert_int_equal(classify(lines, "CHILD_SA 'm2m-pos' not established after 500ms", r, sizeof(r)),
			 M2M_ERR_TIMEOUT);
}

/* a gateway under load answers with a COOKIE, then drops the IKE_SA_INIT that carries it */
static void test_lost_after_cookie(void **state)
{
	const char *const lines[] = {
		init_sent[0], init_sent[1], init_sent[2],
		"received packet: from 10.99.0.1[500] to 10.99.0.2[500] (48 bytes)",
		"parsed IKE_SA_INIT response 0 [ N(COOKIE) ]",
		"generating IKE_SA_INIT request 0 [ N(COOKIE) SA KE No N(NATD_S_IP) N(NATD_D_IP) N(FRAG_SUP) N(HASH_ALG) N(REDIR_SUP) ]",
		"sending packet: from 10.99.0.2[500] to 10.99.0.1[500] (300 bytes)",
		"retransmit 1 of request with message ID 0",
		"retransmit 2 of request with message ID 0",
		"giving up after 2 retransmits",
		"establishing IKE_SA failed, peer not responding",
		NULL,
	};
	char r[300];

	(void)state;
	assert_int_equal(classify(lines, "establishing CHILD_SA 'm2m-pos' failed", r, sizeof(r)),
			 M2M_ERR_UNREACHABLE);
	assert_string_equal(r, "gateway 10.99.0.1 answered IKE_SA_INIT but not the IKE_SA_INIT that "
			       "followed after its COOKIE (2 retransmits)");
}

/* every other failure charon (5.9.8) reports in words has a class, none is "failure" (1) */
static void test_every_charon_message(void **state)
{
	static const struct {
		const char *line;
		int rc;
	} t[] = {
		{ "received EAP_FAILURE, EAP authentication failed", M2M_ERR_AUTH_LOCAL },
		{ "peer requested EAP, config unacceptable", M2M_ERR_AUTH_LOCAL },
		{ "EAP method EAP_MSCHAPV2 failed for peer 10.99.0.1", M2M_ERR_AUTH_LOCAL },
		{ "authentication of 'dev1.lab' (myself) failed", M2M_ERR_CREDENTIAL },
		{ "unable to create ECDSA_WITH_SHA256_DER signature for ECDSA key", M2M_ERR_CREDENTIAL },
		{ "no private key found for 'dev1.lab'", M2M_ERR_CREDENTIAL },
		{ "no shared key found for 'user1' - 'gw.lab'", M2M_ERR_CREDENTIAL },
		{ "received IDr gw2.lab, but require gw.lab", M2M_ERR_AUTH_REMOTE },
		{ "constraint check failed: identity 'gw.lab' required ", M2M_ERR_AUTH_REMOTE },
		{ "peer certificate verification failed, deleting SA", M2M_ERR_AUTH_REMOTE },
		{ "authentication of 'gw.lab' with ECDSA_WITH_SHA256_DER failed", M2M_ERR_AUTH_REMOTE },
		{ "received FAILED_CP_REQUIRED notify error", M2M_ERR_PROTOCOL },
		{ "received INVALID_SYNTAX notify error", M2M_ERR_PROTOCOL },
		{ "received UNSUPPORTED_CRITICAL_PAYLOAD notify error", M2M_ERR_PROTOCOL },
		{ "received SINGLE_PAIR_REQUIRED notify, no CHILD_SA built", M2M_ERR_PROTOCOL },
		{ "no acceptable proposal found", M2M_ERR_PROTOCOL },
		{ "received proposals unacceptable", M2M_ERR_PROTOCOL },
		{ "no acceptable traffic selectors found", M2M_ERR_PROTOCOL },
		{ "peer selected invalid traffic selectors: 10.99.1.0/24 for 10.99.1.1/32, 10.99.2.1/32 for 0.0.0.0/0",
		  M2M_ERR_PROTOCOL },
		{ "configuration payload negotiation failed, no CHILD_SA built", M2M_ERR_PROTOCOL },
		{ "peer DH group selection invalid", M2M_ERR_PROTOCOL },
		{ "unable to install inbound and outbound IPsec SA (SAD) in kernel", M2M_ERR_DAEMON },
		{ "unable to install IPsec policies (SPD) in kernel", M2M_ERR_DAEMON },
		{ "unable to allocate SPIs from kernel", M2M_ERR_DAEMON },
		{ "installing virtual IP 10.99.2.1 failed", M2M_ERR_DAEMON },
		{ "unable to resolve gw.example, initiate aborted", M2M_ERR_UNREACHABLE },
		{ "error writing to socket: Network is unreachable", M2M_ERR_UNREACHABLE },
	};
	char r[300];

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		const char *const lines[] = { init_sent[0], t[i].line, NULL };

		if (classify(lines, "establishing CHILD_SA 'm2m-pos' failed", r, sizeof(r)) != t[i].rc)
			fail_msg("'%s': class %d, expected %d", t[i].line,
				 classify(lines, "x", r, sizeof(r)), t[i].rc);
		assert_true(r[0] != '\0');
	}
	/* the success line of a virtual IP is no failure */
	{
		const char *const ok[] = { "installing new virtual IP 10.99.2.1", NULL };

		assert_int_equal(classify(ok, "establishing CHILD_SA 'm2m-pos' failed", r, sizeof(r)),
				 M2M_ERR_FAILURE);
	}
}

static void test_protocol(void **state)
{
	const char *const noprop[] = { init_sent[0], "parsed IKE_SA_INIT response 0 [ N(NO_PROP) ]",
				       "received NO_PROPOSAL_CHOSEN notify error", NULL };
	const char *const ts[] = { "received TS_UNACCEPTABLE notify, no CHILD_SA built", NULL };
	char r[300];

	(void)state;
	assert_int_equal(classify(noprop, "establishing CHILD_SA 'm2m-pos' failed", r, sizeof(r)),
			 M2M_ERR_PROTOCOL);
	assert_non_null(strstr(r, "NO_PROPOSAL_CHOSEN"));
	assert_int_equal(classify(ts, "establishing CHILD_SA 'm2m-pos' failed", r, sizeof(r)),
			 M2M_ERR_PROTOCOL);
}

static void test_empty(void **state)
{
	const char *const none[] = { NULL };
	char r[300];

	(void)state;
	assert_int_equal(classify(none, NULL, r, sizeof(r)), M2M_ERR_FAILURE);
	assert_string_equal(r, "establishing the tunnel failed");
	/* a long reason is cut, never overflows */
	assert_int_equal(classify(none, "x", r, 2), M2M_ERR_FAILURE);
	assert_string_equal(r, "x");
}

static void test_log_is_bounded(void **state)
{
	struct vpn_attempt_log l = { 0 };

	(void)state;
	for (int i = 0; i < 10000; i++)
		vpn_log_add(&l, "retransmit 1 of request with message ID 0");
	assert_true(l.n <= 4096);
	vpn_log_free(&l);
}

/* charon-conf: one TCTI for every TPM profile, each PKCS#11 module once */
/*
 * charon 5.9.8 with no route to the gateway: it sends from no address, and the send
 * fails with ENETUNREACH (logged by its sender thread, not in the attempt's log)
 */
static void test_no_route(void **state)
{
	const char *const lines[] = {
		"initiating IKE_SA m2m-pos[2] to 198.51.100.1",
		"sending packet: from 0.0.0.0[500] to 198.51.100.1[500] (264 bytes)",
		"retransmit 1 of request with message ID 0",
		NULL,
	};
	char r[300];

	(void)state;
	assert_int_equal(classify(lines, "establishing CHILD_SA 'm2m-pos' failed", r, sizeof(r)),
			 M2M_ERR_UNREACHABLE);
	assert_string_equal(r, "no route to the gateway 10.99.0.1 (Network is unreachable)");
}

/* AUTHENTICATION_FAILED also names the remote_id: a gateway refuses an IDr it is not */
static void test_hint_remote_id(void **state)
{
	const char *const failed[] = { "received AUTHENTICATION_FAILED notify error", NULL };
	const char *const other[] = { "received NO_PROPOSAL_CHOSEN notify error", NULL };
	struct m2m_vpn_profile p = { .name = "pos", .remote_id = "gw.lab" };
	struct vpn_attempt_log l = { 0 };
	char r[300] = "rejected";

	(void)state;
	vpn_log_add(&l, failed[0]);
	vpn_classify_hint(&l, &p, r, sizeof(r));
	assert_string_equal(r, "rejected; or the gateway is not 'gw.lab' (the profile's remote_id)");
	vpn_log_free(&l);
	snprintf(r, sizeof(r), "refused");
	vpn_log_add(&l, other[0]);
	vpn_classify_hint(&l, &p, r, sizeof(r));
	assert_string_equal(r, "refused");
	vpn_log_free(&l);
}

static void test_charon_conf(void **state)
{
	struct m2m_vpn_profile p[3] = {
		{ .name = "t1", .auth = M2M_AUTH_TPM, .tcti = "device:/dev/tpmrm0" },
		{ .name = "k1", .auth = M2M_AUTH_PKCS11, .module = "/usr/lib/p11.so" },
		{ .name = "k2", .auth = M2M_AUTH_PKCS11, .module = "/usr/lib/p11.so" },
	};
	struct m2m_config cfg = { .path = "m2m.yaml", .profiles = p, .n_profiles = 3 };
	struct m2m_err err = { 0 };
	const char *const *need;
	char *text = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(m2m_vpn_charon_conf(&cfg, &text, &len, &err), M2M_OK);
	assert_int_equal(strlen(text), len);
	assert_non_null(strstr(text, "tpm {\n    tcti {\n        name = device\n        opts = /dev/tpmrm0\n"));
	assert_non_null(strstr(text, "pkcs11 {\n    modules {\n        m2m-k1 {\n            path = /usr/lib/p11.so\n"));
	assert_null(strstr(text, "m2m-k2"));
	free(text);
	p[1] = (struct m2m_vpn_profile){ .name = "t2", .auth = M2M_AUTH_TPM, .tcti = "mssim" };
	assert_int_equal(m2m_vpn_charon_conf(&cfg, &text, &len, &err), M2M_ERR_CONFIG);
	assert_null(text);
	assert_non_null(strstr(err.msg, "profiles t1 and t2 name different TCTIs"));
	need = m2m_vpn_needed_plugins(M2M_AUTH_CERT_EAP);
	assert_string_equal(need[2], "eap-mschapv2");
	assert_null(need[3]);
	assert_string_equal(m2m_auth_method_name(M2M_AUTH_CERT_EAP), "cert+eap");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unreachable_gave_up),
		cmocka_unit_test(test_unreachable_within_timeout),
		cmocka_unit_test(test_timeout_after_answer),
		cmocka_unit_test(test_auth_local),
		cmocka_unit_test(test_eap_password_wrong),
		cmocka_unit_test(test_auth_remote),
		cmocka_unit_test(test_success_lines_are_not_failures),
		cmocka_unit_test(test_clock_of_gateway),
		cmocka_unit_test(test_lost_ike_auth),
		cmocka_unit_test(test_lost_ike_auth_at_deadline),
		cmocka_unit_test(test_lost_after_cookie),
		cmocka_unit_test(test_every_charon_message),
		cmocka_unit_test(test_protocol),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_log_is_bounded),
		cmocka_unit_test(test_charon_conf),
		cmocka_unit_test(test_no_route),
		cmocka_unit_test(test_hint_remote_id),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
