/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of what came of the management server's last orders, kept for
 * the next run (lib/lwm2m/orders.c): object 33810's Last Renewal (15) of each
 * profile and object 33811's Last Order (13) read back in the words they were
 * reported in, a renewal by its profile's name; a file that is not as written
 * (torn, larger than the bound, garbage, other types, a text longer than the
 * resource keeps) is set aside and taken as none, and nothing crashes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/base.h"
#include "lwm2m/lwm2m.h"
#include "lwm2m/obj_int.h"
#include "lwm2m/objects.h"

#define FILE_NAME "dm-orders.json"

static char dir[] = "/tmp/m2m-unit-orders.XXXXXX";
static const char *state_dir; /* the configuration's: dir, or a directory not made yet */

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/m2m-unit-orders.XXXXXX");
	state_dir = dir;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void put(const char *text, size_t len)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, FILE_NAME);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static char *get(size_t *len)
{
	char path[128], *buf = malloc(65536);
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, FILE_NAME);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(buf);
	*len = fread(buf, 1, 65536, f);
	fclose(f);
	return buf;
}

static bool has(const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

/* the value the server would read at path: a string resource */
static void expect(struct lw_registry *r, const char *path, const char *want)
{
	struct lw_records rs = { 0 };
	struct lw_path p;

	assert_true(lw_path_parse(path, strlen(path), &p));
	assert_int_equal(lw_read(r, &p, &rs), 0);
	assert_int_equal(rs.n, 1);
	assert_int_equal(rs.r[0].v.len, strlen(want));
	assert_memory_equal(rs.r[0].v.buf, want, strlen(want));
	lw_records_free(&rs);
}

struct client {
	struct m2m_config cfg;
	struct m2m_vpn_profile prof[LW_MAX_INST];
	struct lw_objects objs;
	struct lw_registry reg;
};

/* the objects as a run builds them, with these profiles */
static void open_client(struct client *c, const char *const *names, size_t n)
{
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < n; i++)
		c->prof[i].name = (char *)names[i];
	c->cfg.dm.lifetime_ms = 60000;
	c->cfg.state_dir = (char *)state_dir;
	c->cfg.profiles = c->prof;
	c->cfg.n_profiles = n;
	assert_int_equal(lw_objects_init(&c->objs, &c->cfg, &c->reg), 0);
}

static const char renewed[] = "renewed: serial 5A01, until 2031-02-03 04:05:06 UTC; proven on the tunnel";
static const char failed[] = "failed: pos: the CA's \"server\" said \\no\\\t(\x01) — 5 s";

/* What one run reported, the next run reports: by the profile's name, word for word. */
static void test_orders_kept(void **state)
{
	static const char *const names[] = { "pos", "spare" }, *const swapped[] = { "spare", "pos" };
	struct client c;

	(void)state;
	open_client(&c, names, 2);
	/* none yet: empty, as before any order */
	expect(&c.reg, "/33810/0/15", "");
	expect(&c.reg, "/33810/1/15", "");
	expect(&c.reg, "/33811/0/13", "");
	assert_int_equal(c.objs.orders_why.rc, 0);
	snprintf(c.objs.renewed[0], sizeof(c.objs.renewed[0]), "%s", failed);
	snprintf(c.objs.renewed[1], sizeof(c.objs.renewed[1]), "%s", renewed);
	snprintf(c.objs.last_order, sizeof(c.objs.last_order), "release: done");
	lw_orders_save(&c.objs);
	lw_objects_free(&c.objs);
	assert_true(has(FILE_NAME));

	/* the next run */
	open_client(&c, names, 2);
	assert_int_equal(c.objs.orders_why.rc, 0);
	expect(&c.reg, "/33810/0/15", failed);
	expect(&c.reg, "/33810/1/15", renewed);
	expect(&c.reg, "/33811/0/13", "release: done");
	lw_objects_free(&c.objs);

	/* the profiles in another order in the configuration: each keeps its own */
	open_client(&c, swapped, 2);
	expect(&c.reg, "/33810/0/15", renewed);
	expect(&c.reg, "/33810/1/15", failed);
	/* a save from here keeps both under their names */
	snprintf(c.objs.last_order, sizeof(c.objs.last_order), "wipe: refused: not in policy.server");
	lw_orders_save(&c.objs);
	lw_objects_free(&c.objs);
	open_client(&c, names, 2);
	expect(&c.reg, "/33810/0/15", failed);
	expect(&c.reg, "/33810/1/15", renewed);
	expect(&c.reg, "/33811/0/13", "wipe: refused: not in policy.server");
	lw_objects_free(&c.objs);

	/* a profile gone from the configuration: the others are still read */
	open_client(&c, names + 1, 1);
	expect(&c.reg, "/33810/0/15", renewed);
	lw_objects_free(&c.objs);
	assert_false(has(FILE_NAME ".bad"));
}

/* Every text at its longest, each byte one that JSON escapes: written within the bound, read back. */
static void test_orders_largest(void **state)
{
	static const char *const names[LW_MAX_INST] = {
		"p0______________________________", "p1______________________________",
		"p2______________________________", "p3______________________________",
		"p4______________________________", "p5______________________________",
		"p6______________________________", "p7______________________________",
	};
	struct client c;
	char want[sizeof(c.objs.renewed[0])];
	size_t len;
	char *txt;

	(void)state;
	open_client(&c, names, LW_MAX_INST);
	for (size_t i = 0; i < LW_MAX_INST; i++) {
		memset(c.objs.renewed[i], 0x01 + (int)i, sizeof(c.objs.renewed[i]) - 1);
		c.objs.renewed[i][sizeof(c.objs.renewed[i]) - 1] = '\0';
	}
	memset(c.objs.last_order, 0x1f, sizeof(c.objs.last_order) - 1);
	c.objs.last_order[sizeof(c.objs.last_order) - 1] = '\0';
	lw_orders_save(&c.objs);
	lw_objects_free(&c.objs);
	txt = get(&len);
	free(txt);
	assert_true(len > 16384);
	assert_true(len <= 32768);

	open_client(&c, names, LW_MAX_INST);
	assert_int_equal(c.objs.orders_why.rc, 0);
	for (size_t i = 0; i < LW_MAX_INST; i++) {
		char path[32];

		memset(want, 0x01 + (int)i, sizeof(want) - 1);
		want[sizeof(want) - 1] = '\0';
		snprintf(path, sizeof(path), "/33810/%zu/15", i);
		expect(&c.reg, path, want);
	}
	assert_int_equal(strlen(c.objs.last_order), sizeof(c.objs.last_order) - 1);
	lw_objects_free(&c.objs);
}

/*
 * A file that is not what a run writes: set aside as dm-orders.json.bad (for
 * a person), the resources empty as before any order, the reason kept for
 * the run's log; the run after starts clean.
 */
static void test_orders_bad_file(void **state)
{
	static const char *const names[] = { "pos" };
	static const char *const bad[] = {
		"",                                                     /* empty */
		"\x01\xfe\x00garbage",                                  /* not text */
		"[\"release: done\"]",                                  /* not an object */
		"{\"last_order\": 5}",                                  /* not a text */
		"{\"last_order\": \"release\\u0000: done\"}",           /* a NUL inside */
		"{\"last_renewal\": \"pos\"}",                          /* not an object */
		"{\"last_renewal\": {\"pos\": null}}",                  /* not a text */
		"{\"last_order\": \"release: done\", \"last_renewal\": {\"pos\": \"renewed", /* torn */
		NULL,                                                   /* a text too long */
		NULL,                                                   /* larger than the bound */
	};
	size_t n = sizeof(bad) / sizeof(bad[0]);
	struct client c;
	char *big;

	(void)state;
	big = malloc(40000);
	assert_non_null(big);
	for (size_t k = 0; k < n; k++) {
		size_t len;

		if (k == n - 2) {
			/* Last Order keeps 319 bytes: 320 is no text a run wrote */
			len = (size_t)snprintf(big, 40000, "{\"last_order\": \"%0320d\"}", 0);
		} else if (k == n - 1) {
			/* well-formed, but 33 KiB: not read past the bound */
			len = (size_t)snprintf(big, 40000, "{\"last_order\": \"release: done\", \"pad\": \"%033000d\"}", 0);
		} else {
			len = k == 1 ? 10 : strlen(bad[k]);
		}
		put(k >= n - 2 ? big : bad[k], len);
		open_client(&c, names, 1);
		expect(&c.reg, "/33810/0/15", "");
		expect(&c.reg, "/33811/0/13", "");
		assert_int_equal(c.objs.orders_why.rc, M2M_ERR_FAILURE);
		assert_true(c.objs.orders_why.msg[0]);
		lw_objects_free(&c.objs);
		assert_false(has(FILE_NAME));
		assert_true(has(FILE_NAME ".bad"));
		/* the next run: nothing to read, nothing to say */
		open_client(&c, names, 1);
		assert_int_equal(c.objs.orders_why.rc, 0);
		expect(&c.reg, "/33811/0/13", "");
		lw_objects_free(&c.objs);
	}
	free(big);
	/* an order after that is kept again */
	open_client(&c, names, 1);
	snprintf(c.objs.last_order, sizeof(c.objs.last_order), "release: done");
	lw_orders_save(&c.objs);
	lw_objects_free(&c.objs);
	open_client(&c, names, 1);
	expect(&c.reg, "/33811/0/13", "release: done");
	lw_objects_free(&c.objs);
}

/* No state directory yet (a first run): nothing read, nothing said; the first save makes it. */
static void test_orders_no_dir(void **state)
{
	static const char *const names[] = { "pos" };
	char sub[sizeof(dir) + 16];
	struct client c;

	(void)state;
	snprintf(sub, sizeof(sub), "%s/state", dir);
	state_dir = sub;
	open_client(&c, names, 1);
	assert_int_equal(c.objs.orders_why.rc, 0);
	assert_false(access(sub, F_OK) == 0);
	snprintf(c.objs.renewed[0], sizeof(c.objs.renewed[0]), "%s", renewed);
	lw_orders_save(&c.objs);
	lw_objects_free(&c.objs);
	open_client(&c, names, 1);
	expect(&c.reg, "/33810/0/15", renewed);
	lw_objects_free(&c.objs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_orders_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_orders_largest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_orders_bad_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_orders_no_dir, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
