/* SPDX-License-Identifier: MIT */
/*
 * Request parsing and reply building for the gwd API (api_msg.h).  Pure
 * functions: the bytes of one line in, a checked request out.  Every field
 * is checked for type and range here, so the daemon trusts what it gets.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_msg.h"
#include "domains.h"

static const char *const names[GWD_CMD_COUNT] = {
	[GWD_CMD_STATUS] = "status",
	[GWD_CMD_POLICY_APPLY] = "policy.apply",
	[GWD_CMD_POLICY_HISTORY] = "policy.history",
	[GWD_CMD_POLICY_ROLLBACK] = "policy.rollback",
	[GWD_CMD_POLICY_CONFIRM] = "policy.confirm",
	[GWD_CMD_POLICY_GET] = "policy.get",
	[GWD_CMD_DEVICES] = "devices",
	[GWD_CMD_FLOWS] = "flows",
	[GWD_CMD_DOMAINS_LEARN] = "domains.learn",
	[GWD_CMD_DHCP_LEASE] = "dhcp.lease",
	[GWD_CMD_EVENTS_SUBSCRIBE] = "events.subscribe",
	[GWD_CMD_DOMAINS] = "domains",
};

/* The fields each command takes besides v, id and cmd. */
static const char *const fields[GWD_CMD_COUNT][7] = {
	[GWD_CMD_STATUS] = { NULL },
	[GWD_CMD_POLICY_APPLY] = { "text", "path", "message", "dry_run", "confirm_seconds", NULL },
	[GWD_CMD_POLICY_HISTORY] = { "generation", NULL },
	[GWD_CMD_POLICY_ROLLBACK] = { "generation", NULL },
	[GWD_CMD_POLICY_CONFIRM] = { NULL },
	[GWD_CMD_POLICY_GET] = { "generation", NULL },
	[GWD_CMD_DEVICES] = { "brief", NULL },
	[GWD_CMD_FLOWS] = { "device", "limit", NULL },
	[GWD_CMD_DOMAINS_LEARN] = { "name", "addrs", "ttl", NULL },
	[GWD_CMD_DHCP_LEASE] = { "action", "mac", "addr", "hostname", "client_id", "expires", NULL },
	[GWD_CMD_EVENTS_SUBSCRIBE] = { "types", NULL },
	[GWD_CMD_DOMAINS] = { "name", "limit", NULL },
};

const char *gwd_cmd_name(enum gwd_cmd c)
{
	return c < GWD_CMD_COUNT ? names[c] : "?";
}

bool gwd_cmd_changes(enum gwd_cmd c)
{
	return c == GWD_CMD_POLICY_APPLY || c == GWD_CMD_POLICY_ROLLBACK ||
	       c == GWD_CMD_POLICY_CONFIRM || c == GWD_CMD_DOMAINS_LEARN ||
	       c == GWD_CMD_DHCP_LEASE;
}

static int __attribute__((format(printf, 3, 4)))
refuse(struct gwd_api_err *err, const char *code, const char *fmt, ...)
{
	err->code = code;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* An integer field in [min, max]; absent leaves *out alone. */
static int get_uint(json_t *root, const char *key, int64_t min, int64_t max, uint32_t *out,
		    struct gwd_api_err *err)
{
	json_t *v = json_object_get(root, key);
	if (!v)
		return 0;
	if (!json_is_integer(v))
		return refuse(err, "bad_argument", "'%s' must be an integer", key);
	json_int_t n = json_integer_value(v);
	if (n < min || n > max)
		return refuse(err, "bad_argument", "'%s' must be %lld..%lld", key,
			      (long long)min, (long long)max);
	*out = (uint32_t)n;
	return 0;
}

static int get_string(json_t *root, const char *key, const char **out, size_t *out_len,
		      struct gwd_api_err *err)
{
	json_t *v = json_object_get(root, key);
	if (!v)
		return 0;
	if (!json_is_string(v))
		return refuse(err, "bad_argument", "'%s' must be a string", key);
	*out = json_string_value(v);
	if (out_len)
		*out_len = json_string_length(v);
	else if (strlen(*out) != json_string_length(v))
		return refuse(err, "bad_argument", "'%s' contains a NUL character", key);
	return 0;
}

/* "types": a non-empty array of event names (gwd_api.h; a repeat is
 * harmless); absent: every type. */
static int parse_types(struct gwd_api_req *r, struct gwd_api_err *err)
{
	json_t *a = json_object_get(r->root, "types");
	if (!a) {
		r->types = (uint32_t)((1ull << GWD_API_EV_COUNT) - 1);
		return 0;
	}
	if (!json_is_array(a) || !json_array_size(a) || json_array_size(a) > GWD_API_EV_COUNT)
		return refuse(err, "bad_argument", "'types' must be an array of 1..%d event names",
			      GWD_API_EV_COUNT);
	size_t i;
	json_t *v;
	json_array_foreach(a, i, v) {
		const char *s = json_string_value(v);
		unsigned t = 0;
		while (s && t < GWD_API_EV_COUNT && strcmp(s, gwd_api_event_name(t)))
			t++;
		if (!s || strlen(s) != json_string_length(v) || t == GWD_API_EV_COUNT)
			return refuse(err, "bad_argument", "'types': '%.64s' is not an event (%s, ...)",
				      s ? s : "(not a string)", gwd_api_event_name(0));
		r->types |= 1u << t;
	}
	return 0;
}

static int parse_learn(struct gwd_api_req *r, struct gwd_api_err *err)
{
	if (get_string(r->root, "name", &r->name, NULL, err) < 0)
		return -EINVAL;
	if (!r->name || !gwd_domain_name_ok(r->name))
		return refuse(err, "bad_argument", "'name' must be a DNS name (labels of letters, "
			      "digits, '-', '_'; at most %d bytes)", GWD_API_MAX_NAME);
	json_t *ttl = json_object_get(r->root, "ttl");
	if (!ttl)
		return refuse(err, "bad_argument", "domains.learn needs 'ttl' (seconds)");
	if (get_uint(r->root, "ttl", 1, GWD_API_MAX_TTL, &r->ttl, err) < 0)
		return -EINVAL;
	json_t *a = json_object_get(r->root, "addrs");
	if (!json_is_array(a) || json_array_size(a) < 1 ||
	    json_array_size(a) > GWD_API_MAX_ADDRS)
		return refuse(err, "bad_argument", "'addrs' must be an array of 1..%d addresses",
			      GWD_API_MAX_ADDRS);
	for (size_t i = 0; i < json_array_size(a); i++) {
		json_t *v = json_array_get(a, i);
		const char *s = json_string_value(v);
		if (!s || strlen(s) != json_string_length(v) || strlen(s) > 45)
			return refuse(err, "bad_argument", "'addrs'[%zu] must be an address string", i);
		uint8_t buf[16] = { 0 };
		uint8_t family;
		if (inet_pton(AF_INET, s, buf) == 1)
			family = 4;
		else if (inet_pton(AF_INET6, s, buf) == 1)
			family = 6;
		else
			return refuse(err, "bad_argument",
				      "'addrs'[%zu]: '%s' is not an IPv4 or IPv6 address", i, s);
		r->addrs[r->naddrs].family = family;
		memcpy(r->addrs[r->naddrs].addr, buf, 16);
		r->naddrs++;
	}
	return 0;
}

int gwd_api_parse(const char *line, size_t len, struct gwd_api_req *ret,
		  struct gwd_api_err *err)
{
	struct gwd_api_req r = { 0 };
	memset(err, 0, sizeof(*err));
	int rc = -EINVAL;
	if (len > GWD_API_MAX_LINE)
		return refuse(err, "too_long", "a request line is at most %u bytes",
			      GWD_API_MAX_LINE);
	json_error_t je;
	/* JSON_REJECT_DUPLICATES: {"cmd":"status","cmd":"policy.apply"} means
	 * nothing sure; JSON_ALLOW_NUL keeps the length honest for text. */
	r.root = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
	if (!r.root)
		return refuse(err, "malformed", "not JSON: %s at column %d", je.text, je.column);
	if (!json_is_object(r.root)) {
		refuse(err, "malformed", "a request is a JSON object");
		goto fail;
	}
	json_t *id = json_object_get(r.root, "id");
	if (!json_is_integer(id)) {
		refuse(err, "malformed", "'id' must be an integer");
		goto fail;
	}
	r.id = json_integer_value(id);
	err->have_id = true;
	err->id = r.id;
	json_t *v = json_object_get(r.root, "v");
	if (!json_is_integer(v) || json_integer_value(v) != GWD_API_VERSION) {
		refuse(err, "version", "'v' must be %d (this gwd speaks version %d)",
		       GWD_API_VERSION, GWD_API_VERSION);
		goto fail;
	}
	json_t *cmd = json_object_get(r.root, "cmd");
	if (!json_is_string(cmd)) {
		refuse(err, "malformed", "'cmd' must be a string");
		goto fail;
	}
	const char *name = json_string_value(cmd);
	int c;
	for (c = 0; c < GWD_CMD_COUNT; c++)
		if (strlen(name) == json_string_length(cmd) && !strcmp(name, names[c]))
			break;
	if (c == GWD_CMD_COUNT) {
		refuse(err, "unknown_command", "unknown command '%.64s'", name);
		goto fail;
	}
	r.cmd = (enum gwd_cmd)c;
	const char *key;
	json_t *val;
	json_object_foreach(r.root, key, val) {
		if (!strcmp(key, "v") || !strcmp(key, "id") || !strcmp(key, "cmd"))
			continue;
		bool known = false;
		for (int i = 0; fields[c][i]; i++)
			if (!strcmp(key, fields[c][i]))
				known = true;
		if (!known) {
			refuse(err, "bad_argument", "%s takes no field '%.64s'", names[c], key);
			goto fail;
		}
	}
	switch (r.cmd) {
	case GWD_CMD_POLICY_APPLY: {
		if (get_string(r.root, "text", &r.text, &r.text_len, err) < 0 ||
		    get_string(r.root, "path", &r.path, NULL, err) < 0 ||
		    get_string(r.root, "message", &r.message, NULL, err) < 0 ||
		    get_uint(r.root, "confirm_seconds", 1, GWD_API_MAX_CONFIRM,
			     &r.confirm_seconds, err) < 0)
			goto fail;
		if (!r.text == !r.path) {
			refuse(err, "bad_argument", "policy.apply takes either 'text' or 'path'");
			goto fail;
		}
		if (r.path && r.path[0] != '/') {
			refuse(err, "bad_argument", "'path' must be absolute");
			goto fail;
		}
		if (r.message && strlen(r.message) > GWD_API_MAX_MESSAGE) {
			refuse(err, "bad_argument", "'message' is at most %d bytes",
			       GWD_API_MAX_MESSAGE);
			goto fail;
		}
		json_t *d = json_object_get(r.root, "dry_run");
		if (d && !json_is_boolean(d)) {
			refuse(err, "bad_argument", "'dry_run' must be true or false");
			goto fail;
		}
		r.dry_run = json_is_true(d);
		if (r.dry_run && r.confirm_seconds) {
			refuse(err, "bad_argument", "'dry_run' and 'confirm_seconds' do not mix");
			goto fail;
		}
		break;
	}
	case GWD_CMD_POLICY_HISTORY:
	case GWD_CMD_POLICY_ROLLBACK:
	case GWD_CMD_POLICY_GET:
		if (get_uint(r.root, "generation", 1, UINT32_MAX, &r.generation, err) < 0)
			goto fail;
		break;
	case GWD_CMD_DEVICES: {
		json_t *b = json_object_get(r.root, "brief");
		if (b && !json_is_boolean(b)) {
			refuse(err, "bad_argument", "'brief' must be true or false");
			goto fail;
		}
		r.brief = json_is_true(b);
		break;
	}
	case GWD_CMD_FLOWS:
		r.limit = GWD_API_FLOWS_LIMIT;
		if (get_string(r.root, "device", &r.device, NULL, err) < 0 ||
		    get_uint(r.root, "limit", 1, GWD_API_FLOWS_MAX, &r.limit, err) < 0)
			goto fail;
		if (r.device && (!r.device[0] || strlen(r.device) > 64)) {
			refuse(err, "bad_argument", "'device' must be a device name or a MAC address");
			goto fail;
		}
		break;
	case GWD_CMD_DOMAINS_LEARN:
		if (parse_learn(&r, err) < 0)
			goto fail;
		break;
	case GWD_CMD_DOMAINS:
		r.limit = GWD_API_FLOWS_LIMIT;
		if (get_string(r.root, "name", &r.name, NULL, err) < 0 ||
		    get_uint(r.root, "limit", 1, GWD_API_FLOWS_MAX, &r.limit, err) < 0)
			goto fail;
		if (r.name && !gwd_domain_name_ok(r.name)) {
			refuse(err, "bad_argument", "'name' must be a DNS name (labels of letters, "
			       "digits, '-', '_'; at most %d bytes)", GWD_API_MAX_NAME);
			goto fail;
		}
		break;
	case GWD_CMD_DHCP_LEASE: {
		if (get_string(r.root, "action", &r.action, NULL, err) < 0 ||
		    get_string(r.root, "mac", &r.mac, NULL, err) < 0 ||
		    get_string(r.root, "addr", &r.addr, NULL, err) < 0 ||
		    get_string(r.root, "hostname", &r.hostname, NULL, err) < 0 ||
		    get_string(r.root, "client_id", &r.client_id, NULL, err) < 0)
			goto fail;
		if (!r.action || !r.mac || !r.addr) {
			refuse(err, "bad_argument", "dhcp.lease needs 'action', 'mac' and 'addr'");
			goto fail;
		}
		json_t *e = json_object_get(r.root, "expires");
		if (e && (!json_is_integer(e) || json_integer_value(e) < 0 ||
			  json_integer_value(e) > (json_int_t)1 << 40)) {
			refuse(err, "bad_argument",
			       "'expires' must be unix seconds (0: a lease that never ends)");
			goto fail;
		}
		r.expires = e ? json_integer_value(e) : 0;
		break;
	}
	case GWD_CMD_EVENTS_SUBSCRIBE:
		if (parse_types(&r, err) < 0)
			goto fail;
		break;
	default:
		break;
	}
	*ret = r;
	return 0;
fail:
	json_decref(r.root);
	return rc;
}

void gwd_api_req_free(struct gwd_api_req *r)
{
	if (!r)
		return;
	json_decref(r->root);
	r->root = NULL;
}

static char *dump_line(json_t *o)
{
	if (!o)
		return NULL;
	/* Compact output has no newline: strings escape theirs. */
	char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (!s)
		return NULL;
	size_t n = strlen(s);
	char *line = realloc(s, n + 2);
	if (!line) {
		free(s);
		return NULL;
	}
	line[n] = '\n';
	line[n + 1] = '\0';
	return line;
}

char *gwd_api_reply_ok(int64_t id, json_t *fields_in)
{
	json_t *o = json_object();
	if (!o) {
		json_decref(fields_in);
		return NULL;
	}
	json_object_set_new(o, "v", json_integer(GWD_API_VERSION));
	json_object_set_new(o, "id", json_integer(id));
	json_object_set_new(o, "ok", json_true());
	if (fields_in) {
		json_object_update(o, fields_in);
		json_decref(fields_in);
	}
	return dump_line(o);
}

char *gwd_api_reply_raw(int64_t id, const char *members, size_t len)
{
	char head[64];
	int n = snprintf(head, sizeof(head), "{\"v\":%d,\"id\":%lld,\"ok\":true%s",
			 GWD_API_VERSION, (long long)id, len ? "," : "");
	char *line = malloc((size_t)n + len + 3);
	if (!line)
		return NULL;
	memcpy(line, head, (size_t)n);
	memcpy(line + n, members, len);
	memcpy(line + n + len, "}\n", 3);
	return line;
}

char *gwd_api_reply_err(bool have_id, int64_t id, const char *code, const char *message,
			json_t *diagnostics)
{
	json_t *o = json_object(), *e = json_object();
	if (!o || !e) {
		json_decref(o);
		json_decref(e);
		json_decref(diagnostics);
		return NULL;
	}
	json_object_set_new(o, "v", json_integer(GWD_API_VERSION));
	json_object_set_new(o, "id", have_id ? json_integer(id) : json_null());
	json_object_set_new(o, "ok", json_false());
	json_object_set_new(e, "code", json_string(code));
	/* json_string refuses invalid UTF-8: a reason quoting the client's
	 * bytes must not vanish for that. */
	json_t *m = json_string(message);
	json_object_set_new(e, "message", m ? m : json_string("(not valid UTF-8)"));
	if (diagnostics)
		json_object_set_new(e, "diagnostics", diagnostics);
	json_object_set_new(o, "error", e);
	return dump_line(o);
}
