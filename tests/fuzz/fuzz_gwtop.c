/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: gwtop's model (tools/gwtop/model.c) fed any JSON as a
 * reply or an event from gwd.  gwd passes on names it learned from DNS
 * answers, which come from the network: whatever the reply holds, the
 * model must not crash, and every text it keeps for the screen must be
 * printable ASCII (no terminal escape gets through).  The same document
 * goes in as devices, flows, status and event, twice (the second time
 * with history), then through every view and batch object.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void printable(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	if (len == n)
		abort(); /* not terminated */
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
			abort();
}

#define P(field) printable(field, sizeof(field))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *o = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
	if (!o)
		return 0;
	struct top_model m;
	top_model_init(&m);
	for (int round = 0; round < 2; round++) {
		top_model_devices(&m, o, 1000 + 3000 * (uint64_t)round);
		top_model_flows(&m, "k", o, 1000 + 3000 * (uint64_t)round);
		top_model_status(&m, o, 1000);
		top_model_event(&m, o);
	}
	for (size_t i = 0; i < m.ndevs; i++) {
		const struct top_dev *d = &m.devs[i];
		P(d->key);
		P(d->name);
		P(d->owner);
		P(d->mac);
		P(d->addr4);
		P(d->addr6);
		json_decref(top_dev_json(d, 1, 2));
	}
	for (size_t i = 0; i < m.nflows; i++) {
		const struct top_flow *f = &m.flows[i];
		P(f->device);
		P(f->proto);
		P(f->src);
		P(f->dst);
		P(f->domain);
		P(f->verdict);
		P(f->rule);
		P(f->engine);
		json_decref(top_flow_json(f, 1, 2));
	}
	for (unsigned i = 0; i < m.nblocks; i++) {
		const struct top_block *b = &m.blocks[i];
		P(b->device);
		P(b->peer);
		P(b->dst);
		P(b->proto);
		P(b->verdict);
		P(b->rule);
		P(b->engine);
	}
	for (unsigned i = 0; i < m.status.nengines; i++) {
		P(m.status.engines[i].name);
		P(m.status.engines[i].state);
	}
	P(m.status.hash);
	size_t *v, n;
	for (int s = 0; s < TOP_DEV_SORTS; s++)
		if (top_model_dev_view(&m, s % 2 ? "a" : NULL, s, s % 3 == 0, s % 2, &v, &n) == 0)
			free(v);
	for (int s = 0; s < TOP_FLOW_SORTS; s++)
		if (top_model_flow_view(&m, s % 2 ? "1" : NULL, s, s % 3 == 0, s % 2, &v, &n) == 0)
			free(v);
	json_decref(top_gateway_json(&m, 1, 2));
	top_model_free(&m);
	json_decref(o);
	return 0;
}
