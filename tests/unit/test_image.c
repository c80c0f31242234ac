/* SPDX-License-Identifier: MIT */
/* The image loader treats its input as untrusted: every damaged image is
 * refused with a reason, and nothing it accepts is unsafe to read. */
#include <stddef.h>

#include "helpers.h"

static const char *policy =
	"zone example.net\ntimezone \"Europe/Berlin\"\n"
	"person ann\ngroup kids\n"
	"device tab mac 02:00:00:00:00:01, 02:00:00:00:00:02 owner ann group kids\n"
	"list ads domains { a.example, *.b.example }\n"
	"list nets prefixes { 198.51.100.0/24, 2001:db8::/48 }\n"
	"schedule bed { mon-fri 21:00-07:00\n sat,sun 23:00-08:00 }\n"
	"rule r1 block any to list ads log\n"
	"rule r2 allow person ann to list nets, c.example, 192.0.2.0/24 proto tcp port 443, 8000-8100 rate 3mbit\n"
	"rule r3 reject group kids to internet during bed\n"
	"rule r4 allow new proto icmp\n"
	"default allow\ndefault new block\n";

static void *image_of(const char *text, size_t *ret_size)
{
	struct pol_unit *u;
	assert_int_equal(pol_compile("t.gw", text, strlen(text), POL_F_NO_FILES, &u), 0);
	assert_int_equal(pol_unit_errors(u), 0);
	const void *img;
	size_t size;
	assert_int_equal(pol_unit_image(u, &img, &size), 0);
	void *copy = malloc(size);
	memcpy(copy, img, size);
	pol_unit_free(u);
	*ret_size = size;
	return copy;
}

/* Recompute the checksum so a damaged table, not the CRC, is what the
 * loader sees. */
static void fix_crc(uint8_t *img, size_t size)
{
	size_t at = offsetof(struct pol_image_header, checksum);
	memset(img + at, 0, 4);
	uint32_t crc = pol_crc32(img, size, 0);
	for (int i = 0; i < 4; i++)
		img[at + i] = (uint8_t)(crc >> (8 * i)); /* little-endian on the wire */
}

static void exercise(const struct pol_ir *ir)
{
	struct pol_facts f = { .device = ir->ndevices ? 0 : POL_NONE, .family = 4,
			       .proto = 6, .dport = 443, .dst = { 198, 51, 100, 7 },
			       .domain_sets = ~0ull };
	for (int d = 0; d < 2; d++) {
		struct pol_verdict v;
		pol_eval(ir, &f, &v, NULL);
		assert_true(v.action < POL_ACTION_COUNT);
		f.device = POL_NONE;
	}
	(void)pol_domain_sets_of(ir, "x.b.example");
	uint64_t mask[8];
	if (ir->nrules <= 512)
		pol_active_rules(ir, (struct pol_when){ 3, 600 }, mask);
}

static void loads_and_reads_back(void **state)
{
	size_t size;
	uint8_t *img = image_of(policy, &size);
	struct pol_ir *ir;
	char err[200];
	assert_int_equal(pol_image_load(img, size, &ir, err, sizeof(err)), 0);
	assert_int_equal(ir->nrules, 4);
	assert_int_equal(ir->ndevices, 1);
	assert_int_equal(ir->nmacs, 2);
	assert_int_equal(ir->ndomain_sets, 2); /* ads, and r2's own domains */
	assert_int_equal(ir->nprefix_sets, 3); /* lan, nets, r2's own prefixes */
	assert_string_equal(pol_ir_str(ir, ir->meta->zone), "example.net");
	assert_string_equal(pol_ir_str(ir, ir->meta->timezone), "Europe/Berlin");
	assert_int_equal(ir->meta->default_new, POL_BLOCK);
	assert_int_equal(ir->rules[1].rate_bps, 3000000);
	assert_int_equal(ir->rules[1].port_count, 2);
	assert_int_equal(ir->rules[2].flags, POL_RULE_DURING);
	exercise(ir);
	pol_ir_free(ir);
	free(img);
}

static void refuses_wrong_header(void **state)
{
	size_t size;
	uint8_t *img = image_of(policy, &size);
	struct pol_ir *ir = NULL;
	char err[200];
	assert_int_equal(pol_image_load(img, 10, &ir, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "too short"));
	assert_int_equal(pol_image_load(img, size - 8, &ir, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "bytes"));
	img[0] ^= 1;
	assert_int_equal(pol_image_load(img, size, &ir, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "magic"));
	img[0] ^= 1;
	img[4] = 99; /* version */
	fix_crc(img, size);
	assert_int_equal(pol_image_load(img, size, &ir, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "version"));
	img[4] = POL_IMAGE_VERSION;
	fix_crc(img, size);
	img[size - 1] ^= 0x40; /* damage without fixing the CRC */
	assert_int_equal(pol_image_load(img, size, &ir, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "checksum"));
	assert_null(ir);
	free(img);
}

/* Every single-byte change, with the checksum made right, either loads
 * into something safe to read or is refused with a reason. */
static void every_byte_flip_is_safe(void **state)
{
	size_t size;
	uint8_t *img = image_of(policy, &size);
	uint8_t *copy = malloc(size);
	static const uint8_t deltas[] = { 0x01, 0x80, 0xff, 0x10 };
	unsigned refused = 0, loaded = 0;
	for (size_t i = 0; i < size; i++) {
		if (i >= offsetof(struct pol_image_header, checksum) &&
		    i < offsetof(struct pol_image_header, checksum) + 4)
			continue;
		for (size_t d = 0; d < sizeof(deltas); d++) {
			memcpy(copy, img, size);
			copy[i] ^= deltas[d];
			fix_crc(copy, size);
			struct pol_ir *ir = NULL;
			char err[200] = "";
			if (pol_image_load(copy, size, &ir, err, sizeof(err)) == 0) {
				exercise(ir);
				pol_ir_free(ir);
				loaded++;
			} else {
				assert_true(err[0] != '\0');
				refused++;
			}
		}
	}
	/* Both happen: padding and names may change freely, counts may not. */
	assert_true(refused > 100);
	assert_true(loaded > 10);
	free(copy);
	free(img);
}

static void index_out_of_range_is_named(void **state)
{
	size_t size;
	uint8_t *img = image_of(policy, &size);
	struct pol_image_header h;
	memcpy(&h, img, sizeof(h));
	/* Point rule 0's first destination at a domain set that isn't there. */
	struct pol_section *dsts = &h.sections[POL_SEC_DSTS];
	struct pol_dst d;
	memcpy(&d, img + dsts->offset, sizeof(d));
	assert_int_equal(d.kind, POL_DST_DOMAINS);
	d.index = 64;
	memcpy(img + dsts->offset, &d, sizeof(d));
	fix_crc(img, size);
	struct pol_ir *ir = NULL;
	char err[200];
	assert_int_equal(pol_image_load(img, size, &ir, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "rule 0: destination out of range");
	free(img);
}

/* A device's fixed address survives the image; a flag the loader does not
 * know, or an address without its flag, is refused. */
static void device_address(void **state)
{
	static const char *text = "device tv mac 02:00:00:00:00:01 address 192.168.1.30\n"
				  "device tab mac 02:00:00:00:00:02\ndefault allow\n";
	size_t size;
	uint8_t *img = image_of(text, &size);
	struct pol_ir *ir = NULL;
	char err[200];
	assert_int_equal(pol_image_load(img, size, &ir, err, sizeof(err)), 0);
	assert_int_equal(ir->ndevices, 2);
	assert_int_equal(ir->devices[0].flags, POL_DEVICE_ADDR4);
	assert_memory_equal(ir->devices[0].addr4, ((uint8_t[]){ 192, 168, 1, 30 }), 4);
	assert_int_equal(ir->devices[1].flags, 0);
	assert_memory_equal(ir->devices[1].addr4, ((uint8_t[]){ 0, 0, 0, 0 }), 4);
	pol_ir_free(ir);

	struct pol_image_header h;
	memcpy(&h, img, sizeof(h));
	uint8_t *dev1 = img + h.sections[POL_SEC_DEVICES].offset + sizeof(struct pol_device);
	size_t at_addr = offsetof(struct pol_device, addr4), at_flags = offsetof(struct pol_device, flags);
	dev1[at_addr] = 10; /* an address, no flag */
	fix_crc(img, size);
	assert_int_equal(pol_image_load(img, size, &ir, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "device 1: an address without its flag");
	dev1[at_addr] = 0;
	dev1[at_flags] = 2; /* a flag this version does not know */
	fix_crc(img, size);
	assert_int_equal(pol_image_load(img, size, &ir, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "device 1: unknown flags 0x2");
	free(img);
}

/* TZ=":/dev/stdin" would have libc read a file: names must stay names. */
static void timezone_path_refused(void **state)
{
	size_t size;
	uint8_t *img = image_of(policy, &size);
	uint8_t *at = memmem(img, size, "Europe/Berlin", 13);
	assert_non_null(at);
	memcpy(at, "/dev/stdin\0\0\0", 13);
	fix_crc(img, size);
	struct pol_ir *ir = NULL;
	char err[200];
	assert_int_equal(pol_image_load(img, size, &ir, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "meta: invalid time zone name");
	free(img);
}

static void layouts_match_structs(void **state)
{
	for (int s = 0; s < POL_SEC_COUNT; s++) {
		assert_int_equal(pol_layout_size(pol_section_layout[s]), pol_section_entsize[s]);
	}
	/* The swap is its own inverse and really swaps (forced on this host). */
	struct pol_rule r = { .name = 0x01020304, .rate_bps = 0x1122334455667788ull };
	struct pol_rule orig = r;
	pol_section_swap(POL_SEC_RULES, &r, 1, 1);
	assert_int_equal(r.name, 0x04030201);
	assert_int_equal(r.rate_bps, 0x8877665544332211ull);
	pol_section_swap(POL_SEC_RULES, &r, 1, 1);
	assert_memory_equal(&r, &orig, sizeof(r));
}

static void deterministic(void **state)
{
	size_t a_size, b_size;
	uint8_t *a = image_of(policy, &a_size);
	uint8_t *b = image_of(policy, &b_size);
	assert_int_equal(a_size, b_size);
	assert_memory_equal(a, b, a_size);
	free(a);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(loads_and_reads_back),
		cmocka_unit_test(refuses_wrong_header),
		cmocka_unit_test(every_byte_flip_is_safe),
		cmocka_unit_test(index_out_of_range_is_named),
		cmocka_unit_test(timezone_path_refused),
		cmocka_unit_test(device_address),
		cmocka_unit_test(layouts_match_structs),
		cmocka_unit_test(deterministic),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
