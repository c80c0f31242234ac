/* SPDX-License-Identifier: MIT */
/* Diagnostics as JSON objects (api_diag.h).  Pure: no I/O. */
#include "api_diag.h"

static json_t *loc_json(json_t *o, const struct pol_loc *loc)
{
	if (!o)
		return NULL;
	json_object_set_new(o, "file", loc->file ? json_string(loc->file) : json_null());
	json_object_set_new(o, "line", json_integer(loc->line));
	json_object_set_new(o, "col", json_integer(loc->col));
	json_object_set_new(o, "len", json_integer(loc->len));
	return o;
}

json_t *gwd_api_diags_json(const struct pol_unit *u)
{
	json_t *list = json_array();
	for (size_t i = 0; list && i < pol_unit_ndiags(u); i++) {
		const struct pol_diag *g = pol_unit_diag(u, i);
		json_t *o = loc_json(json_object(), &g->loc);
		if (!o) {
			json_decref(list);
			return NULL;
		}
		json_object_set_new(o, "severity",
				    json_string(g->severity == POL_SEV_ERROR ? "error" : "warning"));
		json_object_set_new(o, "message", json_string(g->message));
		json_object_set_new(o, "hint", g->hint ? json_string(g->hint) : json_null());
		if (g->note_msg) {
			json_t *n = loc_json(json_object(), &g->note);
			json_object_set_new(n, "message", json_string(g->note_msg));
			json_object_set_new(o, "note", n);
		}
		json_array_append_new(list, o);
	}
	return list;
}
