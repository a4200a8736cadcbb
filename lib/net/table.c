/* SPDX-License-Identifier: MIT */
/*
 * A table kept whole (net.h): made from a body of rules and recorded with
 * its listing, so what it holds can be checked rule by rule, and put back
 * from the body without looking a name up again. The fail-closed guard and
 * the quarantine keep their tables this way.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "net/net.h"
#include "state/state.h"

/* add + delete + add in one transaction: replaces atomically, never a gap */
char *net_table_script(const char *table, bool owner, const char *body)
{
	struct m2m_sbuf b = { 0 };

	m2m_sbuf_printf(&b, "table inet %s%s\ndelete table inet %s\n", table,
			owner ? " { flags owner; }" : "", table);
	m2m_sbuf_printf(&b, "table inet %s {\n%s%s}\n", table, owner ? "  flags owner\n" : "", body);
	if (b.oom) {
		free(b.s);
		return NULL;
	}
	return b.s;
}

/*
 * The record: "tun <tag or ->" (the word is the format's since the guard's
 * first record, whose tag is the tunnel device) and, where nftables could
 * say it, " gen <where its rules stood when listed>" (net_nft_generation()),
 * the table as nftables lists it (without counters), "%%", the body.
 */
#define RECORD_MAX (256 * 1024)
#define RECORD_SEP "\n%%\n"

bool net_kept_load(const struct net_kept *k, struct net_kept_record *r)
{
	struct m2m_state st;
	char *nl, *sep, *gen;
	size_t len;
	int rc;

	memset(r, 0, sizeof(*r));
	if (m2m_state_open_existing(&st, k->dir, NULL) != M2M_OK)
		return false;
	rc = m2m_state_read(&st, k->record, RECORD_MAX, NULL, NULL, &r->buf, &len, NULL);
	m2m_state_close(&st);
	if (rc)
		return false;
	nl = strchr(r->buf, '\n');
	sep = strstr(r->buf, RECORD_SEP);
	if (strncmp(r->buf, "tun ", 4) != 0 || !nl || !sep || sep < nl) {
		net_kept_record_free(r);
		return false;
	}
	*nl = '\0';
	sep[1] = '\0'; /* the listing keeps its last newline */
	/* a record written before the generation was kept has none: no shortcut then */
	gen = strstr(r->buf + 4, " gen ");
	r->gen = gen ? gen + 5 : "";
	if (gen)
		*gen = '\0';
	r->tag = strcmp(r->buf + 4, "-") == 0 ? "" : r->buf + 4;
	r->listing = nl + 1;
	r->body = sep + strlen(RECORD_SEP);
	return true;
}

void net_kept_record_free(struct net_kept_record *r)
{
	free(r->buf);
	memset(r, 0, sizeof(*r));
}

static int record_save(const struct net_kept *k, const char *tag, const char *gen,
		       const char *listing, const char *body, struct m2m_err *err)
{
	struct m2m_sbuf rec = { 0 };
	struct m2m_state st;
	int rc;

	m2m_sbuf_printf(&rec, "tun %s%s%s\n%s%s%s", tag[0] ? tag : "-", gen[0] ? " gen " : "", gen,
			listing, &RECORD_SEP[1], body);
	if (rec.oom)
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	rc = m2m_state_open(&st, k->dir, err);
	if (!rc) {
		rc = m2m_state_write(&st, k->record, rec.s, rec.len, err);
		m2m_state_close(&st);
	}
	free(rec.s);
	if (rc)
		m2m_err_prefix(err, "%s: its record", k->what);
	return rc;
}

/* Where nftables' rules stand now, "" if that cannot be said (then the table is listed). */
static void generation(char *out, size_t len)
{
	if (net_nft_generation(out, len, NULL) != M2M_OK)
		out[0] = '\0';
}

static int list_table(const char *table, char **out)
{
	char cmd[120];

	snprintf(cmd, sizeof(cmd), "list table inet %s", table);
	return net_nft_run(cmd, true, out, NULL);
}

int net_kept_apply(const struct net_kept *k, const char *tag, const char *body, struct m2m_err *err)
{
	char gen[NET_NFT_GEN_LEN], *script, *listing = NULL;
	int rc;

	script = net_table_script(k->table, false, body);
	if (!script)
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	rc = net_nft_run(script, false, NULL, err);
	free(script);
	if (rc) {
		m2m_err_prefix(err, "%s", k->what);
		return rc;
	}
	/* before the listing: a change after this one makes the word differ */
	generation(gen, sizeof(gen));
	if (list_table(k->table, &listing))
		return m2m_err_set(err, M2M_ERR_FAILURE, "%s: nftables does not list the table just made",
				   k->what);
	rc = record_save(k, tag, gen, listing, body, err);
	free(listing);
	return rc;
}

/*
 * Where nftables' rules stand is asked first: the same as when the table was
 * listed into the record means nothing changed it since, and the listing
 * still holds, without libnftables (milliseconds to load). Any change
 * anywhere in the namespace's rules (another table, a flush) makes it differ:
 * then the table is listed and compared; refresh records where the rules
 * stand now, so the next look takes the short way again.
 */
bool net_kept_whole(const struct net_kept *k, const char *tag, bool refresh)
{
	struct net_kept_record r, again;
	char gen[NET_NFT_GEN_LEN], *now = NULL;
	bool whole;

	if (!net_kept_load(k, &r))
		return false;
	generation(gen, sizeof(gen));
	if (strcmp(tag, r.tag) != 0) {
		whole = false;
	} else if (gen[0] && strcmp(gen, r.gen) == 0) {
		whole = true;
	} else {
		/* what it holds, rule by rule, against what it was made to hold */
		whole = list_table(k->table, &now) == M2M_OK && strcmp(now, r.listing) == 0;
		/* unless the record changed meanwhile (a restore by another process) */
		if (whole && refresh && gen[0] && net_kept_load(k, &again)) {
			if (strcmp(again.tag, r.tag) == 0 && strcmp(again.gen, r.gen) == 0 &&
			    strcmp(again.listing, r.listing) == 0 && strcmp(again.body, r.body) == 0)
				record_save(k, r.tag, gen, r.listing, r.body, NULL);
			net_kept_record_free(&again);
		}
	}
	free(now);
	net_kept_record_free(&r);
	return whole;
}

int net_table_delete(const char *table, struct m2m_err *err)
{
	char cmd[200];

	/* "add" first so removing an absent table is not an error */
	snprintf(cmd, sizeof(cmd), "table inet %s\ndelete table inet %s\n", table, table);
	return net_nft_run(cmd, false, NULL, err);
}

int net_kept_remove(const struct net_kept *k, struct m2m_err *err)
{
	struct m2m_state st;
	int rc = net_table_delete(k->table, err);

	if (rc) {
		m2m_err_prefix(err, "%s", k->what);
		return rc;
	}
	/* the record only once the table is gone: one without the other would be kept for good */
	rc = m2m_state_open_existing(&st, k->dir, err);
	if (rc == M2M_ERR_NOT_FOUND) {
		m2m_err_clear(err);
		return M2M_OK;
	}
	if (!rc) {
		rc = m2m_state_remove(&st, k->record, err);
		m2m_state_close(&st);
	}
	if (rc)
		m2m_err_prefix(err, "%s: its record", k->what);
	return rc;
}
