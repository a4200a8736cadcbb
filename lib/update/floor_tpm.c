/* SPDX-License-Identifier: MIT */
/*
 * The anti-rollback floor in a TPM 2.0 NV index (journal.h's struct
 * upd_floor_ops, beside the file backend of floor.c; floor.h).
 *
 * Why an ordinary NV index, and not an NV counter. A version is 1 to 4
 * numbers of up to 9 digits (update.h): about 120 bits, compared number by
 * number, so it is no single value of a TPM_NT_COUNTER (64 bits, which only
 * TPM2_NV_Increment changes, by one). Mapping versions onto counter values
 * would need a table of that mapping, and the table would live on the disk
 * the floor is meant to be safe from. So the floors themselves are kept in
 * the TPM: one ordinary index (TPM_NT_ORDINARY) holds the floor of each
 * package name, and our code only ever writes a higher one. An attacker who
 * has the disk but not the running device cannot lower it: NV contents
 * live in the TPM, which has no command to restore an older NV state, and
 * deleting the state directory leaves it as it is (the file backend does not
 * survive either).
 *
 * A counter "in addition", binding a generation number so that an older
 * content cannot be written back, was considered and left out: whoever can
 * write the index (the same authorization) can also increment a counter,
 * so it would stop nobody the index does not already stop.
 *
 * What it does not stop, said plainly: anyone who can send commands to the
 * TPM on the running device (root; on Debian, the tss group through
 * /dev/tpmrm0) can write the index, since its auth value is empty, and with
 * an empty owner auth can even undefine it, after which the floor is gone (a
 * fresh index holds no floors). Such a person can also run the installer
 * directly; the floor is against the disk, not against root. With swtpm
 * (the tests) the "TPM" is itself a state file, so there the disk attacker
 * wins too; on a real TPM the contents are in the chip.
 *
 * The index: attributes AUTHREAD | AUTHWRITE | NO_DA, empty auth value,
 * defined by the owner (empty owner auth) on the first raise if it does not
 * exist; where the owner auth is set, a person defines it once with those
 * attributes (tpm2_nvdefine INDEX -s 1024 -a "authread|authwrite|no_da")
 * and this backend uses it. An index of another type, or without those
 * attributes, is refused (CONFIG): it is not ours. Its size: 1024 bytes,
 * or less where TPM_PT_NV_INDEX_MAX or TPM_PT_NV_BUFFER_MAX say so
 * (swtpm 0.7: 2048 and 1024).
 *
 * Power cuts. The index holds two copies of the floors, each in one half,
 * each with a generation number and a CRC-32 (the layout is below). A raise
 * writes the whole new set into the half that does NOT hold the current
 * copy, with the next generation, in one TPM2_NV_Write (a half is at most
 * TPM_PT_NV_BUFFER_MAX bytes, the most one command writes), reads it back,
 * and only then returns OK. What we rely on: TPM2_NV_Write changes only the
 * bytes it names (Part 3, NV_Write), and an index never written has
 * TPMA_NV_WRITTEN clear and is refused by TPM2_NV_Read with
 * TPM_RC_NV_UNINITIALIZED (Part 2, TPMA_NV; Part 3, NV_Read), which is how
 * a fresh index is told from a damaged one. What we do NOT rely on: that a
 * write cut by a power loss leaves either all or none of its bytes (the
 * library specification leaves how a TPM commits NV to the TPM's maker). A
 * cut write damages at most the half it was writing; the other half still
 * holds the floors from before the raise, the journal re-runs the commit's
 * raise, and that raise writes the damaged half again. A raise is
 * idempotent: a version at or below the floor writes nothing (NV has a
 * bounded number of writes, and some TPMs rate-limit them).
 *
 * Damage is an error every time (STORAGE), never "no floor": an index
 * that was written but has no valid copy (junk, zeros over both halves), a
 * valid copy whose entries break the rules, two copies of one generation.
 * A damaged half beside a valid one is what a cut write leaves, and the
 * valid one is used.
 *
 * The index is full when the new set does not fit in a half, or has more
 * than UPD_FLOOR_NAMES_MAX names: the raise fails (STORAGE, the index and
 * its size named) and nothing is written; the floors already there stay.
 * Two processes raising at once could lose one raise (both write the same
 * half): the update engine raises under its update lock (journal.h).
 *
 * A copy (big-endian):
 *   0  "m2mF"   magic
 *   4  1        format
 *   5  n        number of entries (0..UPD_FLOOR_NAMES_MAX)
 *   6  gen      u32, generation: the copy with the higher one is current
 *   10 len      u16, bytes of the entries
 *   12 entries  n of: name length (1..63), name ([A-Za-z0-9._-]),
 *               number of parts (1..4), each part u32 (0..999999999);
 *               sorted by name (bytes), each name once
 *   12+len      CRC-32 (m2m_crc32) of bytes 0 .. 12+len
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keystore/ks_tpm.h"
#include "state/state.h"
#include "update/floor.h"

#define MAGIC "m2mF"
#define FORMAT 1
#define COPY_MIN 64          /* a half smaller than this is no index of ours */
#define PART_MAX 999999999u

/* ------------------------------------------------------------ the encoding */

static bool name_ok(const char *s, size_t n)
{
	if (n == 0 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		      ch == '.' || ch == '_' || ch == '-'))
			return false;
	}
	return true;
}

static bool version_ok(const struct upd_version *v)
{
	if (v->n < 1 || v->n > 4)
		return false;
	for (unsigned i = 0; i < v->n; i++)
		if (v->part[i] > PART_MAX)
			return false;
	return true;
}

const struct upd_version *upd_floor_set_get(const struct upd_floor_set *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->e[i].name, name) == 0)
			return &s->e[i].v;
	return NULL;
}

int upd_floor_set_raise(struct upd_floor_set *s, const char *name, const struct upd_version *v)
{
	size_t i;
	int c = 1;

	for (i = 0; i < s->n; i++) {
		c = strcmp(s->e[i].name, name);
		if (c >= 0)
			break;
	}
	if (i < s->n && c == 0) {
		if (upd_version_cmp(v, &s->e[i].v) <= 0)
			return 0;
		s->e[i].v = *v;
		return 1;
	}
	if (s->n >= UPD_FLOOR_NAMES_MAX)
		return -1;
	memmove(&s->e[i + 1], &s->e[i], (s->n - i) * sizeof(s->e[0]));
	snprintf(s->e[i].name, sizeof(s->e[i].name), "%s", name);
	s->e[i].v = *v;
	s->n++;
	return 1;
}

static void put32(uint8_t *p, uint32_t x)
{
	p[0] = (uint8_t)(x >> 24);
	p[1] = (uint8_t)(x >> 16);
	p[2] = (uint8_t)(x >> 8);
	p[3] = (uint8_t)x;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int upd_floor_copy_encode(const struct upd_floor_set *s, uint32_t gen, uint8_t *buf, size_t cap,
			  size_t *len, struct m2m_err *err)
{
	size_t need = UPD_FLOOR_COPY_OVERHEAD, at = 12;

	*len = 0;
	if (s->n > UPD_FLOOR_NAMES_MAX)
		return m2m_err_set(err, M2M_ERR_STORAGE, "more than %d package names",
				   UPD_FLOOR_NAMES_MAX);
	for (size_t i = 0; i < s->n; i++)
		need += 2 + strlen(s->e[i].name) + 4 * (size_t)s->e[i].v.n;
	if (need > cap || need - UPD_FLOOR_COPY_OVERHEAD > 0xffff)
		return m2m_err_set(err, M2M_ERR_STORAGE, "%zu package names need %zu bytes, %zu "
				   "are there", s->n, need, cap);
	memcpy(buf, MAGIC, 4);
	buf[4] = FORMAT;
	buf[5] = (uint8_t)s->n;
	put32(buf + 6, gen);
	buf[10] = (uint8_t)((need - UPD_FLOOR_COPY_OVERHEAD) >> 8);
	buf[11] = (uint8_t)(need - UPD_FLOOR_COPY_OVERHEAD);
	for (size_t i = 0; i < s->n; i++) {
		size_t nl = strlen(s->e[i].name);

		buf[at++] = (uint8_t)nl;
		memcpy(buf + at, s->e[i].name, nl);
		at += nl;
		buf[at++] = (uint8_t)s->e[i].v.n;
		for (unsigned p = 0; p < s->e[i].v.n; p++, at += 4)
			put32(buf + at, s->e[i].v.part[p]);
	}
	put32(buf + at, (uint32_t)m2m_crc32(buf, at));
	*len = at + 4;
	return M2M_OK;
}

enum upd_floor_copy upd_floor_copy_decode(const uint8_t *buf, size_t len, struct upd_floor_set *s,
					  uint32_t *gen)
{
	static const uint8_t ff[4] = { 0xff, 0xff, 0xff, 0xff }, zero[4] = { 0 };
	size_t elen, at = 12, end;

	s->n = 0;
	*gen = 0;
	if (len >= 4 && (memcmp(buf, ff, 4) == 0 || memcmp(buf, zero, 4) == 0))
		return UPD_COPY_EMPTY;
	if (len < UPD_FLOOR_COPY_OVERHEAD || memcmp(buf, MAGIC, 4) != 0 || buf[4] != FORMAT ||
	    buf[5] > UPD_FLOOR_NAMES_MAX)
		return UPD_COPY_DAMAGED;
	elen = (size_t)buf[10] << 8 | buf[11];
	if (elen > len - UPD_FLOOR_COPY_OVERHEAD)
		return UPD_COPY_DAMAGED;
	end = 12 + elen;
	if (get32(buf + end) != (uint32_t)m2m_crc32(buf, end))
		return UPD_COPY_DAMAGED;
	for (unsigned i = 0; i < buf[5]; i++) {
		struct upd_version v = { 0 };
		size_t nl;

		if (at >= end)
			return UPD_COPY_DAMAGED;
		nl = buf[at++];
		if (nl > end - at || !name_ok((const char *)buf + at, nl))
			return UPD_COPY_DAMAGED;
		memcpy(s->e[i].name, buf + at, nl);
		s->e[i].name[nl] = '\0';
		at += nl;
		if (at >= end)
			return UPD_COPY_DAMAGED;
		v.n = buf[at++];
		if (v.n < 1 || v.n > 4 || 4 * (size_t)v.n > end - at)
			return UPD_COPY_DAMAGED;
		for (unsigned p = 0; p < v.n; p++, at += 4)
			v.part[p] = get32(buf + at);
		if (!version_ok(&v))
			return UPD_COPY_DAMAGED;
		if (i > 0 && strcmp(s->e[i - 1].name, s->e[i].name) >= 0)
			return UPD_COPY_DAMAGED; /* not sorted, or a name twice */
		s->e[i].v = v;
		s->n = i + 1;
	}
	if (at != end) {
		s->n = 0;
		return UPD_COPY_DAMAGED;
	}
	*gen = get32(buf + 6);
	return UPD_COPY_VALID;
}

int upd_floor_copy_pick(enum upd_floor_copy a, uint32_t gen_a, enum upd_floor_copy b,
			uint32_t gen_b)
{
	if (a == UPD_COPY_VALID && b == UPD_COPY_VALID)
		return gen_a > gen_b ? 0 : gen_b > gen_a ? 1 : -1;
	if (a == UPD_COPY_VALID)
		return 0;
	if (b == UPD_COPY_VALID)
		return 1;
	/* the very first write (always into the first half) was cut: there were no floors */
	if (a == UPD_COPY_DAMAGED && b == UPD_COPY_EMPTY)
		return 2;
	return -1;
}

/* ------------------------------------------------------------- the TPM */

struct floor_tpm {
	struct tpm *t;
	uint32_t index;
	ESYS_TR nv;            /* ESYS_TR_NONE until the index exists */
	uint16_t size;         /* of the index: two halves */
	uint32_t buf_max;      /* TPM_PT_NV_BUFFER_MAX */
	uint32_t index_max;    /* TPM_PT_NV_INDEX_MAX */
};

static int tpm_fail(struct m2m_err *err, const struct floor_tpm *f, TSS2_RC r, const char *what)
{
	TSS2_RC b = ks_tpm_base_rc(r);

	if ((r & 0xff0000) == 0 && b == TPM2_RC_NV_RATE)
		return m2m_err_set(err, M2M_ERR_DEVICE, "floor: TPM NV index 0x%08x: %s: the TPM "
				   "refuses NV writes for a while (rate limit); try again later",
				   f->index, what);
	if ((r & 0xff0000) == 0 && b == TPM2_RC_NV_SPACE)
		return m2m_err_set(err, M2M_ERR_STORAGE, "floor: TPM NV index 0x%08x: %s: the TPM "
				   "has no NV space left", f->index, what);
	return m2m_err_set(err, M2M_ERR_DEVICE, "floor: TPM NV index 0x%08x (TCTI %s): %s: %s",
			   f->index, f->t->tcti_conf, what, Tss2_RC_Decode(r));
}

static uint32_t tpm_property(struct floor_tpm *f, TPM2_PT pt, uint32_t dflt)
{
	TPMS_CAPABILITY_DATA *cap = NULL;
	uint32_t v = dflt;

	if (Esys_GetCapability(f->t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
			       TPM2_CAP_TPM_PROPERTIES, pt, 1, NULL, &cap) == TSS2_RC_SUCCESS &&
	    cap->data.tpmProperties.count >= 1 &&
	    cap->data.tpmProperties.tpmProperty[0].property == pt)
		v = cap->data.tpmProperties.tpmProperty[0].value;
	Esys_Free(cap);
	return v;
}

#define ATTRS_NEEDED (TPMA_NV_AUTHREAD | TPMA_NV_AUTHWRITE)

/* The index's public area: is it one this backend can use? */
static int check_public(struct floor_tpm *f, const TPMS_NV_PUBLIC *p, struct m2m_err *err)
{
	TPMA_NV a = p->attributes;
	unsigned type = (a & TPMA_NV_TPM2_NT_MASK) >> TPMA_NV_TPM2_NT_SHIFT;

	if (type != TPM2_NT_ORDINARY || (a & ATTRS_NEEDED) != ATTRS_NEEDED)
		return m2m_err_set(err, M2M_ERR_CONFIG,
				   "floor: TPM NV index 0x%08x is not one for the floor (attributes "
				   "0x%08x; expected an ordinary index with authread|authwrite); "
				   "name another index in update.floor.tpm.index", f->index, (unsigned)a);
	if (p->dataSize / 2 < COPY_MIN || p->dataSize / 2 > f->buf_max)
		return m2m_err_set(err, M2M_ERR_CONFIG,
				   "floor: TPM NV index 0x%08x has %u bytes; expected %u to %u (two "
				   "halves, each written in one TPM2_NV_Write)", f->index,
				   (unsigned)p->dataSize, 2 * COPY_MIN, 2 * (unsigned)f->buf_max);
	f->size = p->dataSize;
	return M2M_OK;
}

int upd_floor_tpm_open(const struct m2m_update_config *cfg, void **ctx, struct m2m_err *err)
{
	struct m2m_key_ref ref = { .store = M2M_KEYSTORE_TPM, .tcti = cfg->floor_tcti };
	TPM2B_NV_PUBLIC *pub = NULL;
	struct floor_tpm *f;
	TSS2_RC r;
	int rc;

	*ctx = NULL;
	if (!cfg->floor_tpm || !cfg->floor_index)
		return m2m_err_set(err, M2M_ERR_CONFIG, "floor: no TPM NV index configured "
				   "(update.floor.tpm.index)");
	f = calloc(1, sizeof(*f));
	if (!f)
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	f->index = cfg->floor_index;
	f->nv = ESYS_TR_NONE;
	rc = ks_tpm_connect(&ref, &f->t, err);
	if (rc) {
		free(f);
		return m2m_err_prefix(err, "floor");
	}
	f->buf_max = tpm_property(f, TPM2_PT_NV_BUFFER_MAX, 512);
	f->index_max = tpm_property(f, TPM2_PT_NV_INDEX_MAX, 1024);
	r = Esys_TR_FromTPMPublic(f->t->esys, f->index, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				  &f->nv);
	if (r != TSS2_RC_SUCCESS) {
		f->nv = ESYS_TR_NONE;
		if ((r & 0xff0000) == 0 && ks_tpm_base_rc(r) == TPM2_RC_HANDLE) {
			*ctx = f; /* not defined yet: no floors; the first raise defines it */
			return M2M_OK;
		}
		rc = tpm_fail(err, f, r, "reading its public area");
		upd_floor_tpm_close(f);
		return rc;
	}
	r = Esys_NV_ReadPublic(f->t->esys, f->nv, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub,
			       NULL);
	if (r != TSS2_RC_SUCCESS)
		rc = tpm_fail(err, f, r, "reading its public area");
	else
		rc = check_public(f, &pub->nvPublic, err);
	Esys_Free(pub);
	if (rc) {
		upd_floor_tpm_close(f);
		return rc;
	}
	*ctx = f;
	return M2M_OK;
}

void upd_floor_tpm_close(void *ctx)
{
	struct floor_tpm *f = ctx;

	if (!f)
		return;
	ks_tpm_close(f->t);
	free(f);
}

static int define_index(struct floor_tpm *f, struct m2m_err *err)
{
	uint32_t size = UPD_FLOOR_TPM_SIZE;
	TPM2B_AUTH auth = { .size = 0 };
	TPM2B_NV_PUBLIC pub = { 0 };
	TSS2_RC r;

	if (size > f->index_max)
		size = f->index_max;
	if (size / 2 > f->buf_max)
		size = 2 * f->buf_max;
	size &= ~1u;
	pub.nvPublic.nvIndex = f->index;
	pub.nvPublic.nameAlg = TPM2_ALG_SHA256;
	pub.nvPublic.attributes = ATTRS_NEEDED | TPMA_NV_NO_DA |
				  (TPM2_NT_ORDINARY << TPMA_NV_TPM2_NT_SHIFT);
	pub.nvPublic.dataSize = (UINT16)size;
	r = Esys_NV_DefineSpace(f->t->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
				ESYS_TR_NONE, &auth, &pub, &f->nv);
	if (r != TSS2_RC_SUCCESS) {
		TSS2_RC b = ks_tpm_base_rc(r);

		f->nv = ESYS_TR_NONE;
		if ((r & 0xff0000) == 0 && (b == TPM2_RC_BAD_AUTH || b == TPM2_RC_AUTH_FAIL))
			return m2m_err_set(err, M2M_ERR_CREDENTIAL,
					   "floor: TPM NV index 0x%08x does not exist and the owner "
					   "hierarchy has an auth value: define it once by hand "
					   "(tpm2_nvdefine 0x%08x -s %u -a \"authread|authwrite|no_da\")",
					   f->index, f->index, size);
		return tpm_fail(err, f, r, "defining it");
	}
	f->size = (uint16_t)size;
	return M2M_OK;
}

/* The current floors: *which the half that holds them (-1: none, a fresh index). */
static int load(struct floor_tpm *f, struct upd_floor_set *s, uint32_t *gen, int *which,
		struct m2m_err *err)
{
	struct upd_floor_set other;
	enum upd_floor_copy st[2];
	uint32_t g[2];
	int pick;

	s->n = 0;
	*gen = 0;
	*which = -1;
	if (f->nv == ESYS_TR_NONE)
		return M2M_OK;
	for (int h = 0; h < 2; h++) {
		TPM2B_MAX_NV_BUFFER *data = NULL;
		uint16_t half = f->size / 2;
		TSS2_RC r = Esys_NV_Read(f->t->esys, f->nv, f->nv, ESYS_TR_PASSWORD, ESYS_TR_NONE,
					 ESYS_TR_NONE, half, (UINT16)(h * half), &data);

		if (r != TSS2_RC_SUCCESS) {
			if ((r & 0xff0000) == 0 && ks_tpm_base_rc(r) == TPM2_RC_NV_UNINITIALIZED)
				return M2M_OK; /* defined, never written: no floors */
			return tpm_fail(err, f, r, "reading it");
		}
		st[h] = upd_floor_copy_decode(data->buffer, data->size, h ? &other : s, &g[h]);
		Esys_Free(data);
	}
	pick = upd_floor_copy_pick(st[0], g[0], st[1], g[1]);
	if (pick == 2) {
		s->n = 0; /* none yet: the next write goes into the first half again */
		return M2M_OK;
	}
	if (pick < 0) {
		s->n = 0;
		return m2m_err_set(err, M2M_ERR_STORAGE,
				   "floor: TPM NV index 0x%08x: damaged: no valid copy of the floors; "
				   "no update is installed until it is repaired", f->index);
	}
	if (pick == 1)
		*s = other;
	*gen = g[pick];
	*which = pick;
	return M2M_OK;
}

static int tpm_get(void *ctx, const char *name, char *version, size_t len, struct m2m_err *err)
{
	struct upd_floor_set s;
	struct floor_tpm *f = ctx;
	const struct upd_version *v;
	char buf[48];
	uint32_t gen;
	int which, rc, n = 0;

	if (len)
		version[0] = '\0';
	if (!name_ok(name, strlen(name)))
		return m2m_err_set(err, M2M_ERR_FAILURE, "floor: invalid package name");
	rc = load(f, &s, &gen, &which, err);
	if (rc)
		return rc;
	v = upd_floor_set_get(&s, name);
	if (!v)
		return M2M_OK;
	for (unsigned i = 0; i < v->n; i++)
		n += snprintf(buf + n, sizeof(buf) - (size_t)n, "%s%u", i ? "." : "",
			      (unsigned)v->part[i]);
	if ((size_t)n >= len)
		return m2m_err_set(err, M2M_ERR_FAILURE, "floor: no room for the version");
	memcpy(version, buf, (size_t)n + 1);
	return M2M_OK;
}

static bool set_equal(const struct upd_floor_set *a, const struct upd_floor_set *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->e[i].name, b->e[i].name) != 0 || a->e[i].v.n != b->e[i].v.n ||
		    upd_version_cmp(&a->e[i].v, &b->e[i].v) != 0)
			return false;
	return true;
}

static int tpm_raise(void *ctx, const char *name, const char *version, struct m2m_err *err)
{
	struct upd_floor_set s, back;
	uint8_t buf[TPM2_MAX_NV_BUFFER_SIZE];
	struct floor_tpm *f = ctx;
	TPM2B_MAX_NV_BUFFER data = { 0 };
	TPM2B_MAX_NV_BUFFER *rd = NULL;
	struct upd_version want;
	uint32_t gen, bgen;
	size_t len, half;
	int which, rc, to;
	TSS2_RC r;

	if (!name_ok(name, strlen(name)))
		return m2m_err_set(err, M2M_ERR_FAILURE, "floor: invalid package name");
	if (!upd_version_parse(version, &want))
		return m2m_err_set(err, M2M_ERR_FAILURE, "floor: invalid version '%.40s'", version);
	rc = load(f, &s, &gen, &which, err);
	if (rc)
		return rc;
	rc = upd_floor_set_raise(&s, name, &want);
	if (rc == 0)
		return M2M_OK; /* never lowered; the same version again writes nothing */
	if (rc < 0)
		return m2m_err_set(err, M2M_ERR_STORAGE,
				   "floor: TPM NV index 0x%08x is full (%d package names): the floor "
				   "of %s was not raised", f->index, UPD_FLOOR_NAMES_MAX, name);
	if (gen == UINT32_MAX)
		return m2m_err_set(err, M2M_ERR_STORAGE, "floor: TPM NV index 0x%08x: no "
				   "generation left", f->index);
	if (f->nv == ESYS_TR_NONE) {
		rc = define_index(f, err);
		if (rc)
			return rc;
	}
	half = f->size / 2;
	if (half > sizeof(buf))
		half = sizeof(buf);
	rc = upd_floor_copy_encode(&s, gen + 1, buf, half, &len, err);
	if (rc)
		return m2m_err_prefix(err, "floor: TPM NV index 0x%08x (%u bytes) is full: the "
				      "floor of %s was not raised", f->index, (unsigned)f->size, name);
	to = which == 0 ? 1 : 0; /* the half that does not hold the current floors */
	data.size = (UINT16)len;
	memcpy(data.buffer, buf, len);
	r = Esys_NV_Write(f->t->esys, f->nv, f->nv, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
			  &data, (UINT16)(to * half));
	if (r != TSS2_RC_SUCCESS)
		return tpm_fail(err, f, r, "writing it");
	/* read it back: OK only for floors that are in the TPM */
	r = Esys_NV_Read(f->t->esys, f->nv, f->nv, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
			 (UINT16)half, (UINT16)(to * half), &rd);
	if (r != TSS2_RC_SUCCESS)
		return tpm_fail(err, f, r, "reading back what was written");
	rc = upd_floor_copy_decode(rd->buffer, rd->size, &back, &bgen) == UPD_COPY_VALID &&
	     bgen == gen + 1 && set_equal(&back, &s);
	Esys_Free(rd);
	if (!rc)
		return m2m_err_set(err, M2M_ERR_DEVICE, "floor: TPM NV index 0x%08x: what was "
				   "read back is not what was written", f->index);
	return M2M_OK;
}

const struct upd_floor_ops upd_floor_tpm_ops = {
	.get = tpm_get,
	.raise = tpm_raise,
};
