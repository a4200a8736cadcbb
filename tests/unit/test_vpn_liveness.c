/*
 * The gateway's silence as watch keeps it for "status" (lib/vpn/state.c): an
 * up status of the same IKE SA becomes UNCONFIRMED while a watch runs, and
 * nothing else does (another SA, no watch, cleared, a damaged file).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "m2m/config.h"
#include "m2m/m2m.h"
#include "m2m/vpn.h"
#include "vpn/vpn_int.h"

struct fixture {
	char dir[64];
	struct m2m_config cfg;
	int watch_lock;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/m2m-unit-live.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->cfg.state_dir = f->dir;
	f->watch_lock = -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	m2m_unlock(f->watch_lock);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static struct m2m_vpn_status up_status(unsigned ike_id)
{
	struct m2m_vpn_status st;

	memset(&st, 0, sizeof(st));
	snprintf(st.profile, sizeof(st.profile), "pos");
	st.state = M2M_VPN_STATE_UP;
	st.ike_uniqueid = ike_id;
	return st;
}

static void watch_running(struct fixture *f)
{
	struct m2m_err err;

	assert_int_equal(vpn_watch_lock(&f->cfg, "pos", &f->watch_lock, &err), M2M_OK);
}

static void test_unconfirmed_while_watched(void **state)
{
	struct fixture *f = *state;
	struct m2m_vpn_status st = up_status(7);

	watch_running(f);
	vpn_liveness_save(&f->cfg, "pos", 7, 1800000000, "the gateway has not answered since 10:00:00 (no route to it)");
	vpn_liveness_load(&f->cfg, &st);
	assert_int_equal(st.state, M2M_VPN_STATE_UNCONFIRMED);
	assert_int_equal(st.last_rc, M2M_ERR_UNREACHABLE);
	assert_int_equal(st.last_error_time, 1800000000);
	assert_string_equal(st.last_error, "the gateway has not answered since 10:00:00 (no route to it)");
	assert_string_equal(m2m_vpn_state_name(st.state), "unconfirmed");
}

static void test_other_sa_or_no_watch(void **state)
{
	struct fixture *f = *state;
	struct m2m_vpn_status st = up_status(8);

	/* no watch: a left-over says nothing */
	vpn_liveness_save(&f->cfg, "pos", 8, 1800000000, "silent");
	vpn_liveness_load(&f->cfg, &st);
	assert_int_equal(st.state, M2M_VPN_STATE_UP);
	/* a watch, but the silence was another IKE SA's */
	watch_running(f);
	st = up_status(9);
	vpn_liveness_load(&f->cfg, &st);
	assert_int_equal(st.state, M2M_VPN_STATE_UP);
	assert_int_equal(st.last_rc, 0);
	/* a profile that is down stays down, with no word of silence */
	st = up_status(8);
	st.state = M2M_VPN_STATE_DOWN;
	vpn_liveness_load(&f->cfg, &st);
	assert_int_equal(st.state, M2M_VPN_STATE_DOWN);
	assert_int_equal(st.last_rc, 0);
}

static void test_cleared_and_damaged(void **state)
{
	struct fixture *f = *state;
	struct m2m_vpn_status st = up_status(3);
	char path[128];
	FILE *fp;

	watch_running(f);
	vpn_liveness_save(&f->cfg, "pos", 3, 1800000000, "silent");
	vpn_liveness_clear(&f->cfg, "pos");
	vpn_liveness_load(&f->cfg, &st);
	assert_int_equal(st.state, M2M_VPN_STATE_UP);
	vpn_liveness_clear(&f->cfg, "pos"); /* twice: nothing to remove, no harm */
	snprintf(path, sizeof(path), "%s/live-pos", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("3 yesterday silent\n", fp);
	fclose(fp);
	vpn_liveness_load(&f->cfg, &st);
	assert_int_equal(st.state, M2M_VPN_STATE_UP);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_unconfirmed_while_watched, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_sa_or_no_watch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cleared_and_damaged, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
