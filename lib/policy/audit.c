/* SPDX-License-Identifier: MIT */
/*
 * The policies' audit log: a state journal (one record a line, each flushed
 * before the call returns; a torn last line after a power cut is cut off) of
 * JSON records, each naming the SHA-256 of the record before it ("prev"), so
 * that a record changed, removed or put in between breaks the chain where it
 * is. A full file becomes the one before (policy-audit.1, replacing that) and
 * the next file's first record chains to its last. What the chain cannot show
 * by itself is a cut at the end: the head's hash, which status shows and the
 * management server can keep, is what tells.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/evp.h>

#include "base/base.h"
#include "base/json.h"
#include "m2m/policy.h"
#include "policy/policy_int.h"
#include "state/state.h"

#define PREV_NAME POL_AUDIT_NAME ".1"
#define NO_PREV "0000000000000000000000000000000000000000000000000000000000000000"

static const char *const events[] = { "broken", "holds", "unknown", "quarantine", "restored",
				      "release", "sim-bound", "boot", "log-broken", "wipe", "rotated", NULL };
static const char *const policies[] = { "", "location", "sim", "tamper", "vpn-auth",
					"update-integrity", "pin", NULL };

static bool one_of(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(s, *list) == 0)
			return true;
	return false;
}

static void sha256_hex(const char *s, size_t len, char out[POL_HASH_HEX])
{
	unsigned char md[32];
	unsigned int n = 0;

	if (!EVP_Digest(s, len, md, &n, EVP_sha256(), NULL) || n != sizeof(md)) {
		out[0] = '\0';
		return;
	}
	m2m_hex(md, sizeof(md), out, POL_HASH_HEX);
}

static bool get_str(json_object *o, const char *key, char *dst, size_t len)
{
	json_object *v;
	size_t n;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return false;
	n = (size_t)json_object_get_string_len(v);
	if (n >= len || memchr(json_object_get_string(v), '\0', n))
		return false;
	memcpy(dst, json_object_get_string(v), n + 1);
	return true;
}

static bool get_int(json_object *o, const char *key, int64_t min, int64_t max, int64_t *out)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
		return false;
	*out = json_object_get_int64(v);
	return *out >= min && *out <= max;
}

static bool is_hash(const char *s)
{
	if (strlen(s) != POL_HASH_HEX - 1)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

/* Keys this version does not know are kept in the hash and otherwise ignored. */
bool pol_audit_parse(const char *rec, size_t len, struct pol_audit_rec *r)
{
	json_object *o;
	int64_t n;
	bool ok;

	memset(r, 0, sizeof(*r));
	if (len > M2M_JOURNAL_RECORD_MAX)
		return false;
	o = m2m_json_object(rec, len, 4);
	ok = o && get_int(o, "seq", 1, UINT32_MAX, &n);
	if (ok)
		r->seq = (unsigned)n;
	ok = ok && get_int(o, "time", 0, INT64_MAX, &r->time) &&
	     get_str(o, "event", r->event, sizeof(r->event)) && one_of(r->event, events) &&
	     get_str(o, "policy", r->policy, sizeof(r->policy)) && one_of(r->policy, policies) &&
	     get_str(o, "detail", r->detail, sizeof(r->detail)) &&
	     get_str(o, "prev", r->prev, sizeof(r->prev)) && is_hash(r->prev);
	json_object_put(o);
	return ok;
}

struct walk {
	struct pol_audit *a;
	int (*fn)(void *ctx, const struct m2m_policy_audit_record *r);
	void *ctx;
	const char *file;
	unsigned line;
	bool chained;  /* the first record seen chains to nothing before it */
	struct m2m_err *err;
	int rc;
};

static int walk_rec(const char *rec, size_t len, void *ctx)
{
	struct walk *w = ctx;
	struct pol_audit_rec r;
	struct m2m_policy_audit_record pub;
	char hash[POL_HASH_HEX];

	w->line++;
	if (!pol_audit_parse(rec, len, &r)) {
		w->rc = m2m_err_set(w->err, M2M_ERR_INTEGRITY,
				    "audit log: %s, line %u: not an audit record", w->file, w->line);
		return w->rc;
	}
	/*
	 * The log begins with its first record, or with the record that began a file
	 * after a rotation (the older file dropped since): any other first record
	 * means records were taken off its start.
	 */
	if (!w->chained && !(r.seq == 1 && strcmp(r.prev, NO_PREV) == 0) &&
	    strcmp(r.event, "rotated") != 0) {
		w->rc = m2m_err_set(w->err, M2M_ERR_INTEGRITY,
				    "audit log: %s, line %u (record %u): the log does not begin with its "
				    "first record or a rotation: records were removed at its start",
				    w->file, w->line, r.seq);
		return w->rc;
	}
	if (w->chained && (strcmp(r.prev, w->a->head) != 0 || r.seq != w->a->seq + 1)) {
		w->rc = m2m_err_set(w->err, M2M_ERR_INTEGRITY,
				    "audit log: %s, line %u (record %u): does not follow record %u: "
				    "a record was changed, removed or put in between",
				    w->file, w->line, r.seq, w->a->seq);
		return w->rc;
	}
	if (!w->chained)
		w->a->first_time = r.time;
	w->chained = true;
	sha256_hex(rec, len, hash);
	memcpy(w->a->head, hash, sizeof(hash));
	w->a->seq = r.seq;
	if (w->fn) {
		pub = (struct m2m_policy_audit_record){ r.seq, r.time, r.event, r.policy, r.detail, hash };
		w->rc = w->fn(w->ctx, &pub);
	}
	return w->rc;
}

int pol_audit_read(const struct m2m_state *st, struct pol_audit *a,
		   int (*fn)(void *ctx, const struct m2m_policy_audit_record *r), void *ctx,
		   struct m2m_err *err)
{
	struct walk w = { a, fn, ctx, PREV_NAME, 0, false, err, M2M_OK };
	struct m2m_err jerr;
	int rc;

	memset(a, 0, sizeof(*a));
	m2m_err_clear(&jerr);
	rc = m2m_journal_replay(st, PREV_NAME, POL_AUDIT_MAX, walk_rec, &w, &jerr);
	if (!rc) {
		w.file = POL_AUDIT_NAME;
		w.line = 0;
		rc = m2m_journal_replay(st, POL_AUDIT_NAME, POL_AUDIT_MAX, walk_rec, &w, &jerr);
	}
	if (rc && w.rc)
		return w.rc;
	if (rc) {
		/* a damaged line before a whole one: not a power cut */
		m2m_err_set(err, M2M_ERR_INTEGRITY, "audit log: %s", jerr.msg);
		return M2M_ERR_INTEGRITY;
	}
	return M2M_OK;
}

static char *make_record(const struct pol_audit *a, int64_t now, const char *event,
			 const char *policy, const char *detail)
{
	char d[256];
	json_object *o = json_object_new_object();
	char *out = NULL;

	if (!o)
		return NULL;
	/* text from outside (a reason, a path, a switch's word) goes in as printable ASCII */
	m2m_printable(d, sizeof(d), detail, detail ? strlen(detail) : 0);
	/* the order of the keys is the record's: json-c keeps insertion order */
	if (!json_object_object_add(o, "seq", json_object_new_int64((int64_t)a->seq + 1)) &&
	    !json_object_object_add(o, "time", json_object_new_int64(now)) &&
	    !json_object_object_add(o, "event", json_object_new_string(event)) &&
	    !json_object_object_add(o, "policy", json_object_new_string(policy)) &&
	    !json_object_object_add(o, "detail", json_object_new_string(d)) &&
	    !json_object_object_add(o, "prev", json_object_new_string(a->head[0] ? a->head : NO_PREV))) {
		const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
								     JSON_C_TO_STRING_NOSLASHESCAPE);
		out = s ? strdup(s) : NULL;
	}
	json_object_put(o);
	return out;
}

int pol_audit_append(const struct m2m_state *st, struct pol_audit *a, int64_t now, const char *event,
		     const char *policy, const char *detail, struct m2m_err *err)
{
	struct m2m_journal j;
	char from[PATH_MAX + 32], to[PATH_MAX + 32], hash[POL_HASH_HEX];
	char *rec = make_record(a, now, event, policy, detail);
	size_t len;
	int rc;

	if (!rec)
		return m2m_err_set(err, M2M_ERR_FAILURE, "audit log: out of memory");
	len = strlen(rec);
	rc = m2m_journal_open(st, POL_AUDIT_NAME, POL_AUDIT_MAX, &j, err);
	/*
	 * A full file becomes the one before. The next begins with a record that says
	 * so and chains to it: the one that lets the log begin there once the file
	 * before is dropped at the next rotation. The record asked for follows it.
	 */
	if (!rc && j.size + len + 10 > POL_AUDIT_MAX) {
		char note[96], *rot;

		m2m_journal_close(&j);
		j.fd = -1;
		snprintf(from, sizeof(from), "%s/%s", st->path, POL_AUDIT_NAME);
		snprintf(to, sizeof(to), "%s/%s", st->path, PREV_NAME);
		rc = m2m_rename_durable(from, to, err);
		if (!rc)
			rc = m2m_journal_open(st, POL_AUDIT_NAME, POL_AUDIT_MAX, &j, err);
		snprintf(note, sizeof(note), "the file before (" PREV_NAME ") ends at record %u", a->seq);
		rot = rc ? NULL : make_record(a, now, "rotated", "", note);
		if (!rc && !rot)
			rc = m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
		if (!rc)
			rc = m2m_journal_append(&j, rot, strlen(rot), err);
		if (!rc) {
			sha256_hex(rot, strlen(rot), hash);
			memcpy(a->head, hash, sizeof(hash));
			a->seq++;
			free(rec);
			rec = make_record(a, now, event, policy, detail);
			len = rec ? strlen(rec) : 0;
			if (!rec)
				rc = m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
		}
		free(rot);
		if (rc && j.fd >= 0)
			m2m_journal_close(&j);
	}
	if (!rc) {
		rc = m2m_journal_append(&j, rec, len, err);
		m2m_journal_close(&j);
	}
	if (!rc) {
		sha256_hex(rec, len, hash);
		memcpy(a->head, hash, sizeof(hash));
		a->seq++;
	} else {
		m2m_err_prefix(err, "audit log");
	}
	free(rec);
	return rc;
}
