/* SPDX-License-Identifier: MIT */
/*
 * The anti-rollback floor in a TPM 2.0 NV index (floor_tpm.c): the backend
 * behind journal.h's struct upd_floor_ops that an attacker with the disk
 * cannot lower, and the encoding of the floors in the index (a set of
 * package names and versions in two copies), which the unit tests and the
 * fuzz target drive without a TPM. floor_tpm.c's header comment says why it
 * is made this way.
 */
#ifndef M2M_UPDATE_FLOOR_H
#define M2M_UPDATE_FLOOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "m2m/config.h"
#include "m2m/m2m.h"
#include "update/journal.h"
#include "update/update.h"

/* The most package names the index holds (the index's size may allow fewer). */
#define UPD_FLOOR_NAMES_MAX 64
/* The size of an index the backend defines (two copies of 512 bytes). */
#define UPD_FLOOR_TPM_SIZE 1024
/* A copy's header (magic, format, count, generation, length) and its CRC-32. */
#define UPD_FLOOR_COPY_OVERHEAD 16

/* The floors of some package names, sorted by name, each name once. */
struct upd_floor_set {
	size_t n;
	struct {
		char name[64];
		struct upd_version v;
	} e[UPD_FLOOR_NAMES_MAX];
};

/* The floor of name, or NULL. */
const struct upd_version *upd_floor_set_get(const struct upd_floor_set *s, const char *name);
/*
 * Make the floor of name at least v: 0 if that changes nothing (v is at or
 * below it), 1 if it was raised or added, -1 if the set is full.
 */
int upd_floor_set_raise(struct upd_floor_set *s, const char *name, const struct upd_version *v);

/*
 * One copy of the set, with its generation, into buf: *len its bytes (at most
 * cap). STORAGE if it does not fit in cap ("the index is full").
 */
int upd_floor_copy_encode(const struct upd_floor_set *s, uint32_t gen, uint8_t *buf, size_t cap,
			  size_t *len, struct m2m_err *err);

enum upd_floor_copy { UPD_COPY_EMPTY, UPD_COPY_VALID, UPD_COPY_DAMAGED };
/*
 * Decode a copy from the len bytes at buf (the copy's area in the index; the
 * bytes after the copy are not looked at): EMPTY if the area was never
 * written by us (its first four bytes all 0x00 or all 0xff), VALID with *s
 * and *gen, or DAMAGED.
 */
enum upd_floor_copy upd_floor_copy_decode(const uint8_t *buf, size_t len, struct upd_floor_set *s,
					  uint32_t *gen);

/*
 * Which of two copies holds the floors: 0 or 1, 2 if there are none yet (the
 * first half damaged and the second never written: the very first write,
 * always into the first half, was cut), or -1 if neither does (the index is
 * damaged). A valid copy wins over an empty or damaged one (a write cut by a
 * power loss damages only the copy it was writing); of two valid copies the
 * higher generation wins (equal ones: damaged).
 */
int upd_floor_copy_pick(enum upd_floor_copy a, uint32_t gen_a, enum upd_floor_copy b,
			uint32_t gen_b);

/*
 * Open the floor in the TPM the configuration names (cfg->floor_tpm: its
 * floor_tcti and floor_index): connect, read the index's public area (it is
 * defined on the first raise if it does not exist) and check it is ours to
 * use. *ctx is for upd_floor_tpm_ops and upd_floor_tpm_close(). DEVICE if
 * the TPM cannot be reached, CONFIG if the index is not one this backend can
 * use (its type, its attributes, its size).
 */
int upd_floor_tpm_open(const struct m2m_update_config *cfg, void **ctx, struct m2m_err *err);
void upd_floor_tpm_close(void *ctx);
extern const struct upd_floor_ops upd_floor_tpm_ops;

#endif
