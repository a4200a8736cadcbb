/* SPDX-License-Identifier: MIT */
/*
 * LwM2M 1.1's composite operations, on the root path: Read-Composite (FETCH
 * with a SenML list of paths, TS Core 6.3.8 and Transport 6.4.x) and
 * Write-Composite (iPATCH with SenML records, TS Core 6.3.9), in SenML JSON
 * (110) or SenML CBOR (112); and the records a Send carries (TS Core 6.4.x),
 * read the same way.
 */
#include <stdlib.h>
#include <string.h>

#include "lwm2m/lwm2m.h"

static bool senml(unsigned fmt)
{
	return fmt == LW_FMT_SENML_JSON || fmt == LW_FMT_SENML_CBOR;
}

/*
 * The base of a record read for path: its object instance (or the path
 * itself above that), so that the resources of one instance share a base
 * name and each has a short name, as TS Core's composite examples show.
 */
static void base_of(const struct lw_path *asked, struct lw_path *base)
{
	*base = *asked;
	if (base->depth > 2)
		base->depth = 2;
}

int lw_read_composite(struct lw_registry *reg, const struct lw_records *paths,
		      struct lw_records *out, struct lw_path **bases)
{
	struct lw_path *b = NULL;
	size_t found = 0;

	*bases = NULL;
	for (size_t i = 0; i < paths->n; i++) {
		size_t before = out->n;
		int rc = lw_read(reg, &paths->r[i].path, out);

		/* a path this client does not have is left out of the answer */
		if (rc == LW_NOT_FOUND) {
			for (size_t k = before; k < out->n; k++)
				free(out->r[k].v.buf);
			out->n = before;
			continue;
		}
		if (rc) {
			free(b);
			return rc;
		}
		found++;
		if (out->n > before) {
			struct lw_path *nb = realloc(b, out->n * sizeof(*b));

			if (!nb) {
				free(b);
				return LW_INTERNAL;
			}
			b = nb;
			for (size_t k = before; k < out->n; k++)
				base_of(&paths->r[i].path, &b[k]);
		}
	}
	if (!found) {
		free(b);
		return LW_NOT_FOUND;
	}
	*bases = b;
	return 0;
}

/*
 * A Read-Composite: the paths in the request's SenML (cf), the answer in
 * accept (none: the request's format).
 */
int lw_fetch_composite(struct lw_registry *reg, unsigned cf, unsigned accept,
		       const uint8_t *body, size_t len, struct lw_records *paths,
		       struct lw_records *rs, struct lw_buf *out, unsigned *used)
{
	struct lw_path *bases = NULL;
	int rc;

	if (!senml(cf))
		return LW_UNSUPPORTED_CF;
	if (accept == LW_FMT_NONE)
		accept = cf;
	if (!senml(accept))
		return LW_NOT_ACCEPTABLE;
	rc = lw_senml_names_decode(body, len, cf == LW_FMT_SENML_CBOR, paths);
	if (!rc && !paths->n)
		rc = LW_BAD_REQUEST;
	if (!rc)
		rc = lw_read_composite(reg, paths, rs, &bases);
	if (!rc)
		rc = lw_senml_encode_each(rs, bases, accept == LW_FMT_SENML_CBOR, out);
	if (!rc && out->oom)
		rc = LW_INTERNAL;
	*used = accept;
	free(bases);
	return rc;
}

int lw_patch_composite(struct lw_registry *reg, unsigned cf, const uint8_t *body, size_t len)
{
	struct lw_records rs = { 0 };
	int rc;

	if (!senml(cf))
		return LW_UNSUPPORTED_CF;
	rc = cf == LW_FMT_SENML_CBOR ? lw_senml_cbor_decode(body, len, &rs) :
				       lw_senml_json_decode(body, len, &rs);
	if (!rc)
		rc = lw_write_composite(reg, &rs);
	lw_records_free(&rs);
	return rc;
}
