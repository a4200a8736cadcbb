/* SPDX-License-Identifier: MIT */
/*
 * The YAML layer of the config module: libyaml's event parser feeds a small
 * node tree. We never use libyaml's document loader: it expands aliases
 * into shared nodes, which hides them from the validator and invites
 * exponential walks ("billion laughs"). Here an alias is a leaf that the
 * validator refuses where it finds it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "config/tree.h"

struct builder {
	const char *name;
	const char *buf;
	size_t len;
	struct m2m_err *err;
	struct cfg_node *stack[CFG_MAX_DEPTH];
	unsigned depth;
	size_t nodes;
	unsigned docs;
	struct cfg_node *root;
};

void cfg_quote(char *out, size_t outlen, const char *s, size_t len, size_t max)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0, shown = 0, i;

	if (!outlen)
		return;
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		size_t need = (ch >= 0x20 && ch < 0x7f) ? 1 : 4;

		if (shown == max || o + need + 4 > outlen)
			break;
		if (need == 1) {
			out[o++] = (char)ch;
		} else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		}
		shown++;
	}
	if (i < len && o + 4 <= outlen) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

bool cfg_is_null(const struct cfg_node *n)
{
	if (!n || n->kind != CFG_SCALAR || !n->plain)
		return false;
	return n->len == 0 || strcmp(n->str, "~") == 0 || strcmp(n->str, "null") == 0 ||
	       strcmp(n->str, "Null") == 0 || strcmp(n->str, "NULL") == 0;
}

void cfg_tree_free(struct cfg_node *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n; i++)
		cfg_tree_free(n->kids[i]);
	free(n->kids);
	free(n->str);
	free(n);
}

static int fail_at(struct builder *b, const yaml_mark_t *m, const char *msg)
{
	char name[256];

	cfg_quote(name, sizeof(name), b->name, strlen(b->name), 200);
	return m2m_err_set(b->err, M2M_ERR_CONFIG, "%s:%zu:%zu: %s", name, m->line + 1,
			   m->column + 1, msg);
}

static int oom(struct builder *b)
{
	return m2m_err_set(b->err, M2M_ERR_FAILURE, "out of memory");
}

/* libyaml's reader reports a byte offset, not a mark: count lines ourselves. */
static void offset_mark(const struct builder *b, size_t off, yaml_mark_t *m)
{
	size_t bol = 0;

	memset(m, 0, sizeof(*m));
	if (off > b->len)
		off = b->len;
	for (size_t i = 0; i < off; i++) {
		if (b->buf[i] == '\n') {
			m->line++;
			bol = i + 1;
		}
	}
	m->column = off - bol;
}

static int syntax_error(struct builder *b, const yaml_parser_t *p)
{
	char msg[256];
	yaml_mark_t m = p->problem_mark;
	const char *problem = p->problem ? p->problem : "malformed input";

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		return oom(b);
	case YAML_READER_ERROR:
		offset_mark(b, p->problem_offset, &m);
		if (p->problem_value != -1)
			snprintf(msg, sizeof(msg), "YAML syntax error: %s (#%X)", problem,
				 (unsigned)p->problem_value);
		else
			snprintf(msg, sizeof(msg), "YAML syntax error: %s", problem);
		break;
	default:
		if (p->context)
			snprintf(msg, sizeof(msg), "YAML syntax error: %s (%s at %zu:%zu)", problem,
				 p->context, p->context_mark.line + 1, p->context_mark.column + 1);
		else
			snprintf(msg, sizeof(msg), "YAML syntax error: %s", problem);
		break;
	}
	return fail_at(b, &m, msg);
}

static struct cfg_node *new_node(struct builder *b, enum cfg_kind kind, const yaml_mark_t *m)
{
	struct cfg_node *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->kind = kind;
	n->line = (unsigned)m->line + 1;
	n->col = (unsigned)m->column + 1;
	return n;
}

/* Hang n under the innermost open collection (or make it the root). */
static int attach(struct builder *b, struct cfg_node *n)
{
	struct cfg_node *parent;

	if (b->depth == 0) {
		b->root = n;
		return M2M_OK;
	}
	parent = b->stack[b->depth - 1];
	if (parent->n == parent->cap) {
		size_t cap = parent->cap ? parent->cap * 2 : 8;
		struct cfg_node **k = realloc(parent->kids, cap * sizeof(*k));

		if (!k)
			return oom(b);
		parent->kids = k;
		parent->cap = cap;
	}
	/*
	 * "key:" with nothing after it: libyaml places the empty value at the
	 * next token, often on a later line. Point at the key instead.
	 */
	if (parent->kind == CFG_MAP && parent->n % 2 == 1 && n->kind == CFG_SCALAR &&
	    n->plain && n->len == 0) {
		n->line = parent->kids[parent->n - 1]->line;
		n->col = parent->kids[parent->n - 1]->col;
	}
	parent->kids[parent->n++] = n;
	return M2M_OK;
}

static int on_node(struct builder *b, const yaml_event_t *ev)
{
	const yaml_mark_t *m = &ev->start_mark;
	struct cfg_node *n;
	int rc;

	if (++b->nodes > CFG_MAX_NODES)
		return fail_at(b, m,
			       "too many YAML nodes (more than 100000); expected a configuration file");
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		n = new_node(b, CFG_SCALAR, m);
		if (!n)
			return oom(b);
		n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !ev->data.scalar.tag;
		n->len = ev->data.scalar.length;
		n->str = malloc(n->len + 1);
		if (!n->str) {
			free(n);
			return oom(b);
		}
		memcpy(n->str, ev->data.scalar.value, n->len);
		n->str[n->len] = '\0';
		break;
	case YAML_ALIAS_EVENT:
		n = new_node(b, CFG_ALIAS, m);
		if (!n)
			return oom(b);
		n->str = strdup((const char *)ev->data.alias.anchor);
		if (!n->str) {
			free(n);
			return oom(b);
		}
		n->len = strlen(n->str);
		break;
	default:
		if (b->depth == CFG_MAX_DEPTH)
			return fail_at(b, m,
				       "nested deeper than 32 levels; expected a configuration file");
		n = new_node(b, ev->type == YAML_MAPPING_START_EVENT ? CFG_MAP : CFG_SEQ, m);
		if (!n)
			return oom(b);
		break;
	}
	rc = attach(b, n);
	if (rc) {
		cfg_tree_free(n);
		return rc;
	}
	if (n->kind == CFG_MAP || n->kind == CFG_SEQ)
		b->stack[b->depth++] = n;
	return M2M_OK;
}

static int on_event(struct builder *b, const yaml_event_t *ev, bool *done)
{
	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		if (b->docs++)
			return fail_at(b, &ev->start_mark,
				       "a second YAML document; expected exactly one");
		return M2M_OK;
	case YAML_SCALAR_EVENT:
	case YAML_ALIAS_EVENT:
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		return on_node(b, ev);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		if (b->depth)
			b->depth--;
		return M2M_OK;
	case YAML_STREAM_END_EVENT:
		*done = true;
		return M2M_OK;
	default:
		return M2M_OK;
	}
}

int cfg_tree_parse(const char *name, const char *buf, size_t len, struct cfg_node **root,
		   struct m2m_err *err)
{
	struct builder b = { .name = name, .buf = buf, .len = len, .err = err };
	yaml_parser_t p;
	yaml_event_t ev;
	bool done = false;
	int rc = M2M_OK;

	*root = NULL;
	if (!yaml_parser_initialize(&p))
		return oom(&b);
	yaml_parser_set_input_string(&p, (const unsigned char *)(buf ? buf : ""), buf ? len : 0);
	while (!done) {
		if (!yaml_parser_parse(&p, &ev)) {
			rc = syntax_error(&b, &p);
			break;
		}
		rc = on_event(&b, &ev, &done);
		yaml_event_delete(&ev);
		if (rc)
			break;
	}
	yaml_parser_delete(&p);
	if (rc) {
		cfg_tree_free(b.root);
		return rc;
	}
	*root = b.root;
	return M2M_OK;
}
