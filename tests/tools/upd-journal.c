/* SPDX-License-Identifier: MIT */
/*
 * upd-journal: the update state machine (lib/update/journal.h) with the
 * file-writing fakes of upd-fakes.h, for the power-cut test
 * (tests/integration/301-update-powercut.t).
 *
 *   upd-journal STATE WORK run [--stop-at N] [--fail ok|verify|install|health]
 *       start an update (unless one is under way: then recover and go on)
 *       and run it as far as it goes; each journal write is printed as
 *       "write N <record>" once it is on the disk; --stop-at N: SIGKILL
 *       itself right after the N-th write. Exit: the run's result.
 *   upd-journal STATE WORK resume [--fail ...]
 *       recover and run what is left, never starting an update.
 *   upd-journal STATE WORK status
 *       "state=S done=0|1 offset=N result=N next=NEXT" from the journal, and
 *       the side effects: "fetched=BYTES verify=N install=N health=N
 *       commit=N rollback=N slot=TEXT floor=VERSION".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "update/journal.h"
#include "../tools/upd-fakes.h"

#define SRC "https://updates.example/pos-2.4.1.m2mu"

static void print_write(struct fake *f, const struct upd_record *rec)
{
	printf("write %u state=%s done=%d offset=%llu result=%d\n", f->writes,
	       upd_state_name(rec->state), rec->done, (unsigned long long)rec->offset, rec->result);
	fflush(stdout);
}

static int status(struct m2m_state *st, struct fake *f)
{
	struct m2m_err err = { 0 };
	struct upd_record rec;
	enum upd_next next;
	char slot[64] = "", floor[64] = "", path[PATH_MAX];
	uint64_t bytes;
	FILE *fp;
	int rc = upd_journal_recover(st, &rec, &next, &err);

	if (rc) {
		fprintf(stderr, "upd-journal: %s\n", err.msg);
		return rc;
	}
	printf("state=%s done=%d offset=%llu result=%d next=%s\n", upd_state_name(rec.state),
	       rec.done, (unsigned long long)rec.offset, rec.result, upd_next_name(next));
	fake_count(f, "fetch", &bytes);
	fake_path(f, "slot", path, sizeof(path));
	fp = fopen(path, "re");
	if (fp) {
		if (!fgets(slot, sizeof(slot), fp))
			slot[0] = '\0';
		fclose(fp);
	}
	rc = upd_floor_file_ops.get(st, "pos-firmware", floor, sizeof(floor), &err);
	if (rc) {
		fprintf(stderr, "upd-journal: %s\n", err.msg);
		return rc;
	}
	printf("fetched=%llu verify=%u install=%u health=%u commit=%u rollback=%u slot=%s floor=%s\n",
	       (unsigned long long)bytes, fake_count(f, "verify", NULL),
	       fake_count(f, "install", NULL), fake_count(f, "health", NULL),
	       fake_count(f, "commit", NULL), fake_count(f, "rollback", NULL), slot, floor);
	return M2M_OK;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		enum fake_fail fail;
	} fails[] = { { "ok", FAKE_OK }, { "verify", FAKE_VERIFY }, { "install", FAKE_INSTALL },
		      { "health", FAKE_HEALTH } };
	struct m2m_err err = { 0 };
	struct m2m_state st;
	struct fake f = { .size = 4 * 65536 - 100, .chunk = 65536, .clock = 1000000 };
	struct upd_opts o = { .ops = &fake_ops, .ctx = &f, .floor = &upd_floor_file_ops,
			      .floor_ctx = &st };
	struct upd *u;
	int rc;

	if (argc < 4 || (strcmp(argv[3], "run") && strcmp(argv[3], "resume") &&
			 strcmp(argv[3], "status"))) {
		fprintf(stderr, "usage: upd-journal STATE WORK run|resume [--stop-at N] [--fail WHAT] | status\n");
		return M2M_ERR_USAGE;
	}
	snprintf(f.dir, sizeof(f.dir), "%s", argv[2]);
	for (int i = 4; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--stop-at") == 0) {
			f.kill_write = (unsigned)strtoul(argv[i + 1], NULL, 10);
		} else if (strcmp(argv[i], "--fail") == 0) {
			size_t k;

			for (k = 0; k < sizeof(fails) / sizeof(fails[0]); k++)
				if (strcmp(argv[i + 1], fails[k].name) == 0)
					break;
			if (k == sizeof(fails) / sizeof(fails[0]))
				return M2M_ERR_USAGE;
			f.fail = fails[k].fail;
		} else {
			return M2M_ERR_USAGE;
		}
	}
	f.on_write = print_write;
	rc = m2m_state_open(&st, argv[1], &err);
	if (rc == M2M_OK && strcmp(argv[3], "status") == 0) {
		rc = status(&st, &f);
		m2m_state_close(&st);
		return rc;
	}
	if (rc == M2M_OK)
		rc = upd_open(&st, &o, &u, &err);
	if (rc) {
		fprintf(stderr, "upd-journal: %s\n", err.msg);
		return rc;
	}
	if (upd_next(u) == UPD_NEXT_NONE && strcmp(argv[3], "run") == 0)
		rc = upd_start(u, SRC, &err);
	if (rc == M2M_OK)
		rc = upd_run(u, &err);
	if (rc)
		fprintf(stderr, "upd-journal: %s\n", err.msg);
	upd_close(u);
	m2m_state_close(&st);
	return rc;
}
