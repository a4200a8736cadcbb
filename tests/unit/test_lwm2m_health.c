/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of lib/lwm2m/health.c: what proves the registration of a new
 * configuration while an LwM2M client of this device holds dm.lock.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/base.h"
#include "lwm2m/lwm2m.h"
#include "m2m/config.h"
#include "m2m/dm.h"
#include "state/state.h"

/* the test's directory, removed by teardown also when an assertion fails */
static char tdir[] = "/tmp/m2m-unit-health.XXXXXX";

static int teardown(void **state)
{
	char cmd[64];

	(void)state;
	if (strcmp(tdir + sizeof(tdir) - 7, "XXXXXX") != 0) {
		snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", tdir);
		if (system(cmd) != 0)
			return -1;
	}
	return 0;
}

static void put(const char *dir, const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/*
 * A client that serves (it holds dm.lock) has a live registration, saved.
 * A configuration whose server nobody answers: the serving client's
 * registration vouches for it when the check only looks at that client
 * (a firmware package: the client runs what is checked), but not when the
 * check is of a configuration package the client was sent (own_lock): then
 * the registration is made under the new configuration, and fails.
 */
static void test_own_lock(void **state)
{
	char yaml[1024], reg[512];
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	struct m2m_dm_health_opts ho = { .version = M2M_DM_HEALTH_OPTS_VERSION };
	struct m2m_config *cfg = NULL;
	struct m2m_err err = { 0 };
	struct m2m_state st;
	uint64_t t0;
	int silent, fd = -1, n;

	(void)state;
	assert_non_null(mkdtemp(tdir));
	/* the new configuration's server: a port that takes datagrams and never answers */
	silent = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(silent >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(silent, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(silent, (struct sockaddr *)&sa, &sl), 0);
	put(tdir, "ca.pem", "");
	n = snprintf(yaml, sizeof(yaml),
		     "version: 1\ndevice: {id: dev-health, model: m1}\nstate_dir: %s\n"
		     "dm:\n  server: \"coap://127.0.0.1:%u\"\n  security: nosec\n"
		     "update:\n  trust: %s/ca.pem\n  health: {timeout: 1500ms, dm: true}\n",
		     tdir, ntohs(sa.sin_port), tdir);
	assert_true(n > 0 && (size_t)n < sizeof(yaml));
	snprintf(reg, sizeof(reg), "%s/m2m.yaml", tdir);
	if (m2m_config_parse(reg, yaml, strlen(yaml), &cfg, &err) != M2M_OK)
		fail_msg("config: %s", err.msg);
	/* the serving client: registered a minute ago (under the configuration being replaced) */
	snprintf(reg, sizeof(reg),
		 "{\"server\":\"coap://127.0.0.1:%u\",\"endpoint\":\"dev-health\",\"location\":"
		 "\"/rd/1\",\"registered_at\":%lld,\"lifetime\":600,\"binding\":\"U\","
		 "\"last_attempt\":%lld,\"last_rc\":0,\"last_error\":\"\"}",
		 ntohs(sa.sin_port), (long long)time(NULL) - 60, (long long)time(NULL) - 60);
	put(tdir, "dm-registration.json", reg);
	assert_int_equal(m2m_state_open(&st, tdir, &err), M2M_OK);
	assert_int_equal(m2m_state_lock(&st, "dm.lock", 0, &fd, &err), M2M_OK);
	m2m_state_close(&st);

	/* the client that serves is the proof */
	assert_int_equal(lw_dm_health(cfg, &ho, false, &err), M2M_OK);
	/* the check of a configuration the client was sent registers under it */
	t0 = m2m_now_ms();
	assert_int_not_equal(lw_dm_health(cfg, &ho, true, &err), M2M_OK);
	assert_non_null(strstr(err.msg, "health: registration"));
	/* within the check's bound (1.5 s), with slack for a loaded machine */
	assert_true(m2m_now_ms() - t0 < 1500 + 1500);

	m2m_unlock(fd);
	close(silent);
	m2m_config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_own_lock, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
