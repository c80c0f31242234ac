/* SPDX-License-Identifier: MIT */
/* Loading and checking policy images (see image.h and ir.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"

const uint32_t pol_section_entsize[POL_SEC_COUNT] = {
	[POL_SEC_STRINGS] = 1,
	[POL_SEC_META] = sizeof(struct pol_meta),
	[POL_SEC_PERSONS] = sizeof(struct pol_person),
	[POL_SEC_GROUPS] = sizeof(struct pol_group),
	[POL_SEC_DEVICES] = sizeof(struct pol_device),
	[POL_SEC_MACS] = sizeof(struct pol_mac),
	[POL_SEC_PREFIX_SETS] = sizeof(struct pol_set),
	[POL_SEC_PREFIXES] = sizeof(struct pol_prefix),
	[POL_SEC_DOMAIN_SETS] = sizeof(struct pol_set),
	[POL_SEC_DOMAINS] = sizeof(struct pol_domain),
	[POL_SEC_SCHEDULES] = sizeof(struct pol_set),
	[POL_SEC_WINDOWS] = sizeof(struct pol_window),
	[POL_SEC_RULES] = sizeof(struct pol_rule),
	[POL_SEC_SUBJECTS] = sizeof(struct pol_subject),
	[POL_SEC_DSTS] = sizeof(struct pol_dst),
	[POL_SEC_PORTS] = sizeof(struct pol_port_range),
};

/* b u8, h u16, w u32, q u64; a number repeats the next letter. */
const char *const pol_section_layout[POL_SEC_COUNT] = {
	[POL_SEC_STRINGS] = "b",
	[POL_SEC_META] = "ww4bw",
	[POL_SEC_PERSONS] = "w",
	[POL_SEC_GROUPS] = "w",
	[POL_SEC_DEVICES] = "wwq4bw",
	[POL_SEC_MACS] = "8bw",
	[POL_SEC_PREFIX_SETS] = "4w",
	[POL_SEC_PREFIXES] = "20b",
	[POL_SEC_DOMAIN_SETS] = "4w",
	[POL_SEC_DOMAINS] = "ww",
	[POL_SEC_SCHEDULES] = "4w",
	[POL_SEC_WINDOWS] = "2b3h",
	[POL_SEC_RULES] = "w4b8wq",
	[POL_SEC_SUBJECTS] = "w",
	[POL_SEC_DSTS] = "4bw",
	[POL_SEC_PORTS] = "2h",
};

static size_t width(char c)
{
	return c == 'b' ? 1 : c == 'h' ? 2 : c == 'w' ? 4 : c == 'q' ? 8 : 0;
}

size_t pol_layout_size(const char *l)
{
	size_t size = 0;
	while (*l) {
		size_t rep = 0;
		while (*l >= '0' && *l <= '9')
			rep = rep * 10 + (size_t)(*l++ - '0');
		size += (rep ? rep : 1) * width(*l++);
	}
	return size;
}

static void reverse(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n / 2; i++) {
		uint8_t t = p[i];
		p[i] = p[n - 1 - i];
		p[n - 1 - i] = t;
	}
}

static bool host_is_le(void)
{
	return __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;
}

void pol_section_swap(enum pol_section_id id, void *entries, uint32_t count, int force)
{
	if (host_is_le() && !force)
		return;
	uint8_t *p = entries;
	for (uint32_t e = 0; e < count; e++) {
		for (const char *l = pol_section_layout[id]; *l;) {
			size_t rep = 0;
			while (*l >= '0' && *l <= '9')
				rep = rep * 10 + (size_t)(*l++ - '0');
			size_t w = width(*l++);
			for (size_t r = 0; r < (rep ? rep : 1); r++, p += w)
				reverse(p, w);
		}
	}
}

void pol_header_swap(struct pol_image_header *h, int force)
{
	if (host_is_le() && !force)
		return;
	uint32_t *w = (uint32_t *)h;
	for (size_t i = 0; i < sizeof(*h) / 4; i++)
		reverse((uint8_t *)&w[i], 4);
}

/* CRC-32 (IEEE), slicing by 8: eight table lookups per 8 bytes.  Bytes are
 * combined one by one, so the result is the same on every byte order. */
uint32_t pol_crc32(const void *data, size_t len, uint32_t crc)
{
	static uint32_t t[8][256];
	static bool ready;
	if (!ready) {
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;
			for (int k = 0; k < 8; k++)
				c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
			t[0][i] = c;
		}
		for (uint32_t i = 0; i < 256; i++)
			for (int k = 1; k < 8; k++)
				t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xff];
		ready = true;
	}
	const uint8_t *p = data;
	crc = ~crc;
	for (; len >= 8; len -= 8, p += 8) {
		uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 |
				     (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
		crc = t[7][lo & 0xff] ^ t[6][(lo >> 8) & 0xff] ^ t[5][(lo >> 16) & 0xff] ^
		      t[4][lo >> 24] ^ t[3][p[4]] ^ t[2][p[5]] ^ t[1][p[6]] ^ t[0][p[7]];
	}
	for (; len; len--, p++)
		crc = t[0][(crc ^ *p) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static int fail(char *errbuf, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(char *errbuf, size_t errlen, const char *fmt, ...)
{
	if (errbuf && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(errbuf, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static const char *const section_names[POL_SEC_COUNT] = {
	"strings", "meta", "persons", "groups", "devices", "macs", "prefix sets",
	"prefixes", "domain sets", "domains", "schedules", "windows", "rules",
	"subjects", "destinations", "ports",
};

#define FAIL(...) do { r = fail(errbuf, errlen, __VA_ARGS__); goto out; } while (0)

/* The most entries of each section (ir.h's limits).  Prefix sets: the
 * LAN, each list and each rule's own; domain sets are a bit set. */
static const uint32_t section_max[POL_SEC_COUNT] = {
	[POL_SEC_STRINGS] = POL_MAX_IMAGE,
	[POL_SEC_META] = 1,
	[POL_SEC_PERSONS] = POL_MAX_PERSONS,
	[POL_SEC_GROUPS] = POL_MAX_GROUPS,
	[POL_SEC_DEVICES] = POL_MAX_DEVICES,
	[POL_SEC_MACS] = POL_MAX_MACS,
	[POL_SEC_PREFIX_SETS] = 1 + POL_MAX_LISTS + POL_MAX_RULES,
	[POL_SEC_PREFIXES] = POL_MAX_PREFIXES,
	[POL_SEC_DOMAIN_SETS] = POL_MAX_DOMAIN_SETS,
	[POL_SEC_DOMAINS] = POL_MAX_DOMAINS,
	[POL_SEC_SCHEDULES] = POL_MAX_SCHEDULES,
	[POL_SEC_WINDOWS] = POL_MAX_WINDOWS,
	[POL_SEC_RULES] = POL_MAX_RULES,
	[POL_SEC_SUBJECTS] = POL_MAX_RULE_ITEMS,
	[POL_SEC_DSTS] = POL_MAX_RULE_ITEMS,
	[POL_SEC_PORTS] = POL_MAX_RULE_ITEMS,
};

static bool range_ok(uint32_t first, uint32_t count, uint32_t n)
{
	return (uint64_t)first + count <= n;
}

bool pol_timezone_name_ok(const char *s)
{
	bool ok = s[0] && s[0] != '/' && !strstr(s, "..") && strlen(s) < 128;
	for (const char *c = s; ok && *c; c++)
		ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		     (*c >= '0' && *c <= '9') || *c == '/' || *c == '_' || *c == '-' || *c == '+';
	return ok;
}

static int check_sets(const struct pol_ir *ir, const struct pol_set *sets, uint32_t nsets,
		      uint32_t nentries, const char *what, char *errbuf, size_t errlen)
{
	for (uint32_t i = 0; i < nsets; i++) {
		if (sets[i].name >= ir->strings_size)
			return fail(errbuf, errlen, "%s %u: name offset out of range", what, i);
		if (!range_ok(sets[i].first, sets[i].count, nentries))
			return fail(errbuf, errlen, "%s %u: entries %u+%u out of range (%u)", what,
				    i, sets[i].first, sets[i].count, nentries);
	}
	return 0;
}

static int check_tables(const struct pol_ir *ir, char *errbuf, size_t errlen)
{
	const uint32_t ns = ir->strings_size;
	const struct pol_meta *m = ir->meta;
	if (m->zone >= ns || m->timezone >= ns)
		return fail(errbuf, errlen, "meta: string offset out of range");
	/* The time zone becomes TZ for localtime: only a plain zone name, never
	 * a path (":/dev/stdin" would make libc read a file). */
	if (!pol_timezone_name_ok(pol_ir_str(ir, m->timezone)))
		return fail(errbuf, errlen, "meta: invalid time zone name");
	if (m->default_action >= POL_ACTION_COUNT || m->default_new >= POL_ACTION_COUNT)
		return fail(errbuf, errlen, "meta: invalid default action");
	if (m->dns & ~POL_META_DNS_ENFORCE)
		return fail(errbuf, errlen, "meta: unknown dns flags 0x%x", m->dns);
	if (m->lan_set >= ir->nprefix_sets)
		return fail(errbuf, errlen, "meta: LAN prefix set %u out of range", m->lan_set);
	if (ir->prefix_sets[m->lan_set].count > POL_MAX_LAN_PREFIXES)
		return fail(errbuf, errlen, "the LAN: %u prefixes, at most %d",
			    ir->prefix_sets[m->lan_set].count, POL_MAX_LAN_PREFIXES);
	if (ir->ngroups > POL_MAX_GROUPS)
		return fail(errbuf, errlen, "%u groups: at most %d", ir->ngroups, POL_MAX_GROUPS);
	if (ir->ndomain_sets > POL_MAX_DOMAIN_SETS)
		return fail(errbuf, errlen, "%u domain sets: at most %d", ir->ndomain_sets,
			    POL_MAX_DOMAIN_SETS);
	for (uint32_t i = 0; i < ir->npersons; i++)
		if (ir->persons[i].name >= ns)
			return fail(errbuf, errlen, "person %u: name offset out of range", i);
	for (uint32_t i = 0; i < ir->ngroups; i++)
		if (ir->groups[i].name >= ns)
			return fail(errbuf, errlen, "group %u: name offset out of range", i);
	uint64_t gmask = ir->ngroups == 64 ? ~0ull : (1ull << ir->ngroups) - 1;
	for (uint32_t i = 0; i < ir->ndevices; i++) {
		const struct pol_device *d = &ir->devices[i];
		if (d->name >= ns)
			return fail(errbuf, errlen, "device %u: name offset out of range", i);
		if (d->owner != POL_NONE && d->owner >= ir->npersons)
			return fail(errbuf, errlen, "device %u: owner %u out of range", i, d->owner);
		if (d->groups & ~gmask)
			return fail(errbuf, errlen, "device %u: unknown group bits", i);
		if (d->flags & ~POL_DEVICE_ADDR4)
			return fail(errbuf, errlen, "device %u: unknown flags %#x", i, d->flags);
		if (!(d->flags & POL_DEVICE_ADDR4) && memcmp(d->addr4, "\0\0\0\0", 4))
			return fail(errbuf, errlen, "device %u: an address without its flag", i);
	}
	for (uint32_t i = 0; i < ir->nmacs; i++) {
		if (ir->macs[i].device >= ir->ndevices)
			return fail(errbuf, errlen, "mac %u: device out of range", i);
		if (i && memcmp(ir->macs[i - 1].mac, ir->macs[i].mac, 6) >= 0)
			return fail(errbuf, errlen, "mac %u: table not sorted or not unique", i);
	}
	int r;
	if ((r = check_sets(ir, ir->prefix_sets, ir->nprefix_sets, ir->nprefixes, "prefix set",
			    errbuf, errlen)) < 0 ||
	    (r = check_sets(ir, ir->domain_sets, ir->ndomain_sets, ir->ndomains, "domain set",
			    errbuf, errlen)) < 0 ||
	    (r = check_sets(ir, ir->schedules, ir->nschedules, ir->nwindows, "schedule",
			    errbuf, errlen)) < 0)
		return r;
	for (uint32_t i = 0; i < ir->nschedules; i++)
		if (ir->schedules[i].count > POL_MAX_SCHEDULE_WINDOWS)
			return fail(errbuf, errlen, "schedule %u: %u windows, at most %d", i,
				    ir->schedules[i].count, POL_MAX_SCHEDULE_WINDOWS);
	for (uint32_t i = 0; i < ir->nprefixes; i++) {
		const struct pol_prefix *p = &ir->prefixes[i];
		if (!((p->family == 4 && p->plen <= 32) || (p->family == 6 && p->plen <= 128)))
			return fail(errbuf, errlen, "prefix %u: invalid family or length", i);
	}
	for (uint32_t s = 0; s < ir->ndomain_sets; s++) {
		const struct pol_set *set = &ir->domain_sets[s];
		if (set->flags & ~POL_SET_DNS_PRIVATE)
			return fail(errbuf, errlen, "domain set %u: unknown flags 0x%x", s, set->flags);
		if (set->flags & POL_SET_DNS_PRIVATE &&
		    (s + 1 != ir->ndomain_sets || set->count > POL_MAX_DNS_PRIVATE))
			return fail(errbuf, errlen, "domain set %u: dns private set not last or too big",
				    s);
		for (uint32_t k = 0; k < set->count; k++) {
			const struct pol_domain *d = &ir->domains[set->first + k];
			if (d->name >= ns || d->flags & ~POL_DOMAIN_WILDCARD ||
			    (set->flags & POL_SET_DNS_PRIVATE && d->flags))
				return fail(errbuf, errlen, "domain %u: invalid", set->first + k);
			if (k) {
				const struct pol_domain *prev = d - 1;
				int c = strcmp(pol_ir_str(ir, prev->name), pol_ir_str(ir, d->name));
				if (c > 0 || (c == 0 && prev->flags >= d->flags))
					return fail(errbuf, errlen, "domain set %u: not sorted", s);
			}
		}
	}
	for (uint32_t i = 0; i < ir->nwindows; i++) {
		const struct pol_window *w = &ir->windows[i];
		if (!w->days || w->days > 0x7f || w->start_min >= 1440 || !w->end_min ||
		    w->end_min > 1440 || w->start_min == w->end_min)
			return fail(errbuf, errlen, "window %u: invalid", i);
	}
	for (uint32_t i = 0; i < ir->nrules; i++) {
		const struct pol_rule *ru = &ir->rules[i];
		if (ru->name >= ns)
			return fail(errbuf, errlen, "rule %u: name offset out of range", i);
		if (ru->action >= POL_ACTION_COUNT || ru->subject_kind >= POL_SUBJ_COUNT ||
		    ru->protos & ~7u || ru->flags & ~7u)
			return fail(errbuf, errlen, "rule %u: invalid action, subject, protocols or flags", i);
		if (!range_ok(ru->subj_first, ru->subj_count, ir->nsubjects) ||
		    !range_ok(ru->dst_first, ru->dst_count, ir->ndsts) ||
		    !range_ok(ru->port_first, ru->port_count, ir->nports))
			return fail(errbuf, errlen, "rule %u: a range is out of bounds", i);
		uint32_t limit = ru->subject_kind == POL_SUBJ_DEVICE ? ir->ndevices
			       : ru->subject_kind == POL_SUBJ_PERSON ? ir->npersons
			       : ru->subject_kind == POL_SUBJ_GROUP ? ir->ngroups : 0;
		if (limit == 0 && ru->subject_kind < POL_SUBJ_DEVICE && ru->subj_count)
			return fail(errbuf, errlen, "rule %u: subjects given for any/new", i);
		for (uint32_t k = 0; k < ru->subj_count; k++)
			if (ir->subjects[ru->subj_first + k].index >= limit)
				return fail(errbuf, errlen, "rule %u: subject out of range", i);
		for (uint32_t k = 0; k < ru->dst_count; k++) {
			const struct pol_dst *d = &ir->dsts[ru->dst_first + k];
			if (d->kind >= POL_DST_COUNT ||
			    (d->kind == POL_DST_PREFIXES && d->index >= ir->nprefix_sets) ||
			    (d->kind == POL_DST_DOMAINS && d->index >= ir->ndomain_sets))
				return fail(errbuf, errlen, "rule %u: destination out of range", i);
		}
		for (uint32_t k = 0; k < ru->port_count; k++) {
			const struct pol_port_range *p = &ir->ports[ru->port_first + k];
			if (!p->lo || p->lo > p->hi)
				return fail(errbuf, errlen, "rule %u: invalid port range", i);
		}
		bool during = ru->flags & POL_RULE_DURING;
		if (during != (ru->schedule != POL_NONE) ||
		    (during && ru->schedule >= ir->nschedules))
			return fail(errbuf, errlen, "rule %u: schedule out of range", i);
		if (!(ru->flags & POL_RULE_RATE) != !ru->rate_bps)
			return fail(errbuf, errlen, "rule %u: rate flag and rate disagree", i);
	}
	return 0;
}

int pol_image_load(const void *data, size_t size, struct pol_ir **ret, char *errbuf,
		   size_t errlen)
{
	struct pol_ir *ir = NULL;
	int r = 0;
	struct pol_image_header h;
	if (!data || size < sizeof(h))
		return fail(errbuf, errlen, "image too short (%zu bytes)", size);
	if (size > POL_MAX_IMAGE)
		return fail(errbuf, errlen, "image of %zu bytes: at most %u", size, POL_MAX_IMAGE);
	memcpy(&h, data, sizeof(h));
	pol_header_swap(&h, 0);
	if (h.magic != POL_IMAGE_MAGIC)
		return fail(errbuf, errlen, "not a policy image (bad magic)");
	if (h.version != POL_IMAGE_VERSION)
		return fail(errbuf, errlen, "image version %u, this build reads %u", h.version,
			    POL_IMAGE_VERSION);
	if (h.size != size)
		return fail(errbuf, errlen, "image says %u bytes, got %zu", h.size, size);
	if (h.nsections != POL_SEC_COUNT)
		return fail(errbuf, errlen, "image has %u sections, expected %d", h.nsections,
			    POL_SEC_COUNT);
	/* Limits first: nothing is copied or walked for an image past them. */
	for (int s = 0; s < POL_SEC_COUNT; s++)
		if (h.sections[s].count > section_max[s])
			return fail(errbuf, errlen, "%s: %u entries, at most %u", section_names[s],
				    h.sections[s].count, section_max[s]);
	/* The checksum covers the image with its checksum field zero. */
	uint32_t zero = 0;
	size_t at = offsetof(struct pol_image_header, checksum);
	uint32_t crc = pol_crc32(data, at, 0);
	crc = pol_crc32(&zero, 4, crc);
	crc = pol_crc32((const uint8_t *)data + at + 4, size - at - 4, crc);
	if (crc != h.checksum)
		return fail(errbuf, errlen, "checksum mismatch (damaged image)");

	ir = calloc(1, sizeof(*ir));
	if (!ir)
		return -ENOMEM;
	ir->mem = malloc(size); /* malloc's alignment suits every table */
	if (!ir->mem) {
		free(ir);
		return -ENOMEM;
	}
	memcpy(ir->mem, data, size);
	ir->size = size;
	uint8_t *base = ir->mem;
	const void *tab[POL_SEC_COUNT];
	uint32_t cnt[POL_SEC_COUNT];
	for (int s = 0; s < POL_SEC_COUNT; s++) {
		const struct pol_section *sec = &h.sections[s];
		if (sec->entsize != pol_section_entsize[s])
			FAIL("%s: entry size %u, expected %u", section_names[s], sec->entsize,
			     pol_section_entsize[s]);
		if (sec->offset % 8 || sec->offset < sizeof(h))
			FAIL("%s: misplaced at offset %u", section_names[s], sec->offset);
		if ((uint64_t)sec->offset + (uint64_t)sec->count * sec->entsize > size)
			FAIL("%s: %u entries at offset %u run past the end", section_names[s],
			     sec->count, sec->offset);
		tab[s] = base + sec->offset;
		cnt[s] = sec->count;
		pol_section_swap((enum pol_section_id)s, base + sec->offset, sec->count, 0);
	}
	if (cnt[POL_SEC_STRINGS] == 0 || base[h.sections[POL_SEC_STRINGS].offset] != 0 ||
	    base[h.sections[POL_SEC_STRINGS].offset + cnt[POL_SEC_STRINGS] - 1] != 0)
		FAIL("strings: must start and end with NUL");
	if (cnt[POL_SEC_META] != 1)
		FAIL("meta: %u entries, expected 1", cnt[POL_SEC_META]);
	ir->strings = tab[POL_SEC_STRINGS];
	ir->strings_size = cnt[POL_SEC_STRINGS];
	ir->meta = tab[POL_SEC_META];
	ir->persons = tab[POL_SEC_PERSONS];
	ir->npersons = cnt[POL_SEC_PERSONS];
	ir->groups = tab[POL_SEC_GROUPS];
	ir->ngroups = cnt[POL_SEC_GROUPS];
	ir->devices = tab[POL_SEC_DEVICES];
	ir->ndevices = cnt[POL_SEC_DEVICES];
	ir->macs = tab[POL_SEC_MACS];
	ir->nmacs = cnt[POL_SEC_MACS];
	ir->prefix_sets = tab[POL_SEC_PREFIX_SETS];
	ir->nprefix_sets = cnt[POL_SEC_PREFIX_SETS];
	ir->prefixes = tab[POL_SEC_PREFIXES];
	ir->nprefixes = cnt[POL_SEC_PREFIXES];
	ir->domain_sets = tab[POL_SEC_DOMAIN_SETS];
	ir->ndomain_sets = cnt[POL_SEC_DOMAIN_SETS];
	ir->domains = tab[POL_SEC_DOMAINS];
	ir->ndomains = cnt[POL_SEC_DOMAINS];
	ir->schedules = tab[POL_SEC_SCHEDULES];
	ir->nschedules = cnt[POL_SEC_SCHEDULES];
	ir->windows = tab[POL_SEC_WINDOWS];
	ir->nwindows = cnt[POL_SEC_WINDOWS];
	ir->rules = tab[POL_SEC_RULES];
	ir->nrules = cnt[POL_SEC_RULES];
	ir->subjects = tab[POL_SEC_SUBJECTS];
	ir->nsubjects = cnt[POL_SEC_SUBJECTS];
	ir->dsts = tab[POL_SEC_DSTS];
	ir->ndsts = cnt[POL_SEC_DSTS];
	ir->ports = tab[POL_SEC_PORTS];
	ir->nports = cnt[POL_SEC_PORTS];
	r = check_tables(ir, errbuf, errlen);
out:
	if (r < 0) {
		pol_ir_free(ir);
		return r;
	}
	*ret = ir;
	return 0;
}

void pol_ir_free(struct pol_ir *ir)
{
	if (!ir)
		return;
	free(ir->mem);
	free(ir);
}
