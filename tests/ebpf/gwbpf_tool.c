/* SPDX-License-Identifier: MIT */
/*
 * gwbpf-tool: the loader library from a shell, for the live test
 * (netns_live.sh).  Each run is a new loader on the same pins, as a
 * restarted gwd is: it adopts the maps, acts, and exits, leaving what it
 * attached attached.
 *
 *   gwbpf-tool PIN_ROOT attach IFNAME [xdp|tc]  (the classifier's hook; xdp
 *                                           when not given)
 *   gwbpf-tool PIN_ROOT detach IFNAME
 *   gwbpf-tool PIN_ROOT apply POLICY_FILE [LOCAL_IPV4...]
 *   gwbpf-tool PIN_ROOT stats POLICY_FILE   "rule NAME PACKETS BYTES" for the
 *                                           live slot, "counter NAME VALUE" lines
 *   gwbpf-tool PIN_ROOT unpin
 *   gwbpf-tool - xdp-pass IFNAME            a one-instruction XDP_PASS program
 *                                           on IFNAME (native), left attached
 *
 * xdp-pass is for the device's end of a veth: a veth receives what its
 * peer's XDP program sends back (XDP_TX, the reject's answers) only when it
 * runs an XDP program of its own.
 *
 * Exit 0, 1 on failure, 77 where BPF is not permitted.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <net/if.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>

#include "loader.h"
#include "image.h"
#include "policy.h"

static struct pol_ir *load_policy(const char *path)
{
	struct pol_unit *u = NULL;
	struct pol_ir *ir = NULL;
	const void *img;
	size_t size;
	char err[256] = "";
	if (pol_compile(path, NULL, 0, 0, &u) < 0)
		return NULL;
	if (pol_unit_errors(u))
		pol_unit_render_diags(u, stderr);
	else if (pol_unit_image(u, &img, &size) < 0 ||
		 pol_image_load(img, size, &ir, err, sizeof(err)) < 0)
		fprintf(stderr, "gwbpf-tool: image does not load: %s\n", err);
	pol_unit_free(u);
	return ir;
}

static int apply(struct gwbpf *g, const char *path, char **locals, int nlocals)
{
	struct pol_ir *ir = load_policy(path);
	struct pol_tables *img = NULL;
	struct gwbpf_bitmap active;
	struct pol_when when;
	int r = -EINVAL;
	if (!ir)
		return r;
	for (int i = 0; i < nlocals; i++) {
		uint8_t a[16] = { 0 };
		if (inet_pton(AF_INET, locals[i], a) != 1) {
			fprintf(stderr, "gwbpf-tool: not an IPv4 address: %s\n", locals[i]);
			goto out;
		}
		if ((r = gwbpf_local_add(g, 4, a)) < 0)
			goto out;
	}
	if ((r = pol_when_at(ir, time(NULL), &when)) < 0 ||
	    (r = gwbpf_tables_build(ir, &img)) < 0)
		goto out;
	gwbpf_active_mask(ir, when, &active);
	if ((r = gwbpf_stage(g, img, &active)) < 0 || (r = gwbpf_commit(g)) < 0)
		goto out;
	printf("epoch %llu\n", (unsigned long long)(gwbpf_epoch(g) & GWBPF_EPOCH_NUMBER));
out:
	pol_tables_free(img);
	pol_ir_free(ir);
	return r;
}


static int stats(struct gwbpf *g, const char *path)
{
	struct pol_ir *ir = load_policy(path);
	uint64_t c[GWBPF_CNT_COUNT];
	uint32_t slot = gwbpf_epoch(g) & GWBPF_EPOCH_SLOT ? 1 : 0;
	int r = -EINVAL;
	if (!ir)
		return r;
	for (uint32_t i = 0; i < ir->nrules; i++) {
		struct gwbpf_rule_stats s;
		if ((r = gwbpf_rule_stats(g, slot, i, &s)) < 0)
			goto out;
		printf("rule %s %llu %llu\n", pol_ir_str(ir, ir->rules[i].name),
		       (unsigned long long)s.packets, (unsigned long long)s.bytes);
	}
	if ((r = gwbpf_counters(g, c)) < 0)
		goto out;
	for (int i = 0; i < GWBPF_CNT_COUNT; i++)
		printf("counter %s %llu\n", gwbpf_counter_name((enum gwbpf_counter)i),
		       (unsigned long long)c[i]);
out:
	pol_ir_free(ir);
	return r;
}

static int xdp_pass(const char *ifname)
{
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_PASS },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	int ifindex = (int)if_nametoindex(ifname);
	if (!ifindex)
		return -ENODEV;
	int fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "pass", "GPL", insns, 2, NULL);
	if (fd < 0)
		return -errno;
	int r = bpf_xdp_attach(ifindex, fd, XDP_FLAGS_DRV_MODE, NULL);
	close(fd);
	return r;
}

int main(int argc, char **argv)
{
	struct gwbpf *g = NULL;
	int r;
	if (argc < 3) {
		fprintf(stderr, "usage: gwbpf-tool PIN_ROOT attach IFNAME [xdp|tc] | detach IFNAME | apply POLICY "
				"[LOCAL...] | stats POLICY | unpin\n");
		return 2;
	}
	const char *cmd = argv[2];
	if (!strcmp(cmd, "xdp-pass") && argc == 4) {
		r = xdp_pass(argv[3]);
		if (r < 0)
			fprintf(stderr, "gwbpf-tool: xdp-pass: %s\n", strerror(-r));
		return r == -EPERM || r == -EACCES ? 77 : r < 0 ? 1 : 0;
	}
	r = gwbpf_open(argv[1], &g);
	if (r == -EPERM || r == -EACCES || r == -ENOSYS) {
		fprintf(stderr, "gwbpf-tool: BPF is not permitted here: %s\n", strerror(-r));
		return 77;
	}
	if (r < 0) {
		fprintf(stderr, "gwbpf-tool: cannot load at %s: %s\n", argv[1], strerror(-r));
		return 1;
	}
	if (!strcmp(cmd, "attach") && argc == 4)
		r = gwbpf_attach(g, argv[3]);
	else if (!strcmp(cmd, "attach") && argc == 5 && !strcmp(argv[4], "xdp"))
		r = gwbpf_attach_hook(g, argv[3], GWBPF_HOOK_XDP);
	else if (!strcmp(cmd, "attach") && argc == 5 && !strcmp(argv[4], "tc"))
		r = gwbpf_attach_hook(g, argv[3], GWBPF_HOOK_TC);
	else if (!strcmp(cmd, "detach") && argc == 4)
		r = gwbpf_detach(g, argv[3]);
	else if (!strcmp(cmd, "apply") && argc >= 4)
		r = apply(g, argv[3], argv + 4, argc - 4);
	else if (!strcmp(cmd, "stats") && argc == 4)
		r = stats(g, argv[3]);
	else if (!strcmp(cmd, "unpin") && argc == 3)
		r = gwbpf_unpin(g);
	else
		r = -EINVAL;
	if (r < 0)
		fprintf(stderr, "gwbpf-tool: %s: %s\n", cmd, strerror(-r));
	gwbpf_free(g);
	return r < 0 ? 1 : 0;
}
