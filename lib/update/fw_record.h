/* SPDX-License-Identifier: MIT */
/*
 * update.firmware, the engine's record of the firmware (fw_record.c): what
 * runs, what was committed into each slot, and a fallback of the bootloader
 * noticed after a commit. The file (JSON, written through lib/state):
 *
 *   {"name": "gate-fw", "version": "2.0.0", "slot": "B", "committed": 1765100000,
 *    "source": "record",
 *    "slots": {"A": {"name": ..., "version": "1.0.0", "committed": ...},
 *              "B": {"name": ..., "version": "2.0.0", "committed": ...}},
 *    "fallback": {"name": ..., "version": ..., "slot": "B", "committed": ..., "time": ...}}
 *
 * name, version, slot: the firmware that runs (what the record before this
 * one, {"name", "version", "slot"} alone, already said: it is read as such,
 * its entry counted as its slot's). name and version are absent together
 * when the bootloader fell back to a slot whose firmware no record names:
 * the version that runs is not known, and no version is claimed. source:
 * "record" (written at a commit, or the slot's entry), "rauc" (RAUC's own
 * status of the booted slot: the bundle's version, after a fallback to a
 * slot no record names). slots: per bootname, the firmware committed into
 * it, dropped when an install writes the slot again. fallback: the firmware
 * the bootloader fell back from (committed, then given up on), and when that
 * was noticed; gone at the next commit.
 */
#ifndef M2M_UPDATE_FW_RECORD_H
#define M2M_UPDATE_FW_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "m2m/m2m.h"

#define UPD_FW_SLOTS_MAX 8

struct upd_fw_entry {
	char name[64];
	char version[40];           /* "" : not known */
	char slot[32];              /* bootname, "" if none (a script's firmware) */
	int64_t committed;          /* unix time of its commit, 0 if not known */
};

struct upd_fw_record {
	struct upd_fw_entry run;    /* what runs */
	char source[16];            /* "record", "rauc"; "" : not known */
	size_t n;
	struct upd_fw_entry slots[UPD_FW_SLOTS_MAX]; /* committed into each slot */
	bool fell_back;
	struct upd_fw_entry from;   /* the firmware the bootloader fell back from */
	int64_t fell_back_at;       /* when that was noticed */
};

/* The file's text (len bytes, no NUL needed) into r; FAILURE (and r empty) if malformed. */
int upd_fw_record_parse(const char *text, size_t len, struct upd_fw_record *r,
			struct m2m_err *err);
/* r as the file's JSON (malloc'd; NULL: out of memory). */
char *upd_fw_record_json(const struct upd_fw_record *r);
/* A commit of name version into slot (may be "") at now: it runs, and its slot holds it. */
void upd_fw_record_commit(struct upd_fw_record *r, const char *name, const char *version,
			  const char *slot, int64_t now);
/* An install writes slot: what was committed into it is there no more. */
bool upd_fw_record_forget(struct upd_fw_record *r, const char *slot);
/* The entry of slot, NULL if none. */
const struct upd_fw_entry *upd_fw_record_slot(const struct upd_fw_record *r, const char *slot);
/*
 * The bootloader runs booted, not r->run.slot: the firmware of booted runs,
 * its slot's entry, else (rauc_version not "") RAUC's word for it, else not
 * known; r->run is kept as the one fallen back from, at now.
 */
void upd_fw_record_fall_back(struct upd_fw_record *r, const char *booted, const char *rauc_version,
			     int64_t now);

#endif
