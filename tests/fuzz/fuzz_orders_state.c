/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: dm-orders.json as the LwM2M client reads it back when its
 * objects are built (lib/lwm2m/orders.c): what the server's last orders came
 * to. A file damaged by a disk or a hand must never crash the reader or leave
 * a resource's text unterminated; what it accepts is written and read back
 * the same. Through the state directory, as a run reads it (a temporary one).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lwm2m/obj_int.h"
#include "lwm2m/objects.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[] = "/tmp/m2m-fuzz-orders.XXXXXX";
static struct m2m_vpn_profile prof[2] = { { .name = "pos" }, { .name = "spare" } };
static struct m2m_config cfg;
static struct lw_objects objs, back;
static struct lw_registry reg;

static void build(struct lw_objects *s)
{
	memset(&reg, 0, sizeof(reg));
	if (lw_objects_init(s, &cfg, &reg))
		abort();
}

static void terminated(const struct lw_objects *s)
{
	if (!memchr(s->last_order, '\0', sizeof(s->last_order)))
		abort();
	for (size_t i = 0; i < LW_MAX_INST; i++)
		if (!memchr(s->renewed[i], '\0', sizeof(s->renewed[i])))
			abort();
}

/* the temporary state directory goes with the fuzzer (a file left in it, too) */
static void clean(void)
{
	char cmd[sizeof(dir) + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		return;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[sizeof(dir) + 32];
	FILE *f;

	if (!cfg.state_dir) {
		if (!mkdtemp(dir))
			abort();
		atexit(clean);
		cfg.state_dir = dir;
		cfg.dm.lifetime_ms = 60000;
		cfg.profiles = prof;
		cfg.n_profiles = 2;
	}
	snprintf(path, sizeof(path), "%s/dm-orders.json", dir);
	f = fopen(path, "w");
	if (!f)
		abort();
	fwrite(data, 1, size, f);
	fclose(f);
	build(&objs);
	terminated(&objs);
	if (!objs.orders_why.rc) {
		lw_orders_save(&objs);
		build(&back);
		terminated(&back);
		if (back.orders_why.rc || strcmp(objs.last_order, back.last_order) ||
		    memcmp(objs.renewed, back.renewed, sizeof(objs.renewed)))
			abort();
		lw_objects_free(&back);
	}
	lw_objects_free(&objs);
	unlink(path);
	snprintf(path, sizeof(path), "%s/dm-orders.json.bad", dir);
	unlink(path);
	return 0;
}
