/* SPDX-License-Identifier: MIT */
/*
 * Layer 6, wait.c: the one mechanism behind every _wait twin (the
 * streams' twins use it where they live).
 */
#ifndef DMAIO_WAIT_H
#define DMAIO_WAIT_H

#include "loop.h"

struct dmaio__waiter {
	int done;
	int64_t res;
	struct dmaio_view *view;
	struct dmaio_file *file;
};
#define DMAIO__WAITER_INIT { 0, 0, NULL, NULL }
/* -EDEADLK inside a callback or a running loop, -EINVAL for NULL. */
int dmaio__wait_check(struct dmaio_loop *loop, const char *func);
/* Callbacks that fill a waiter (arg). */
void dmaio__waiter_res(void *arg, int64_t res);
void dmaio__waiter_read(void *arg, struct dmaio_view *v, int64_t res);
/* Runs the loop until the waiter is filled; returns its result
 * (-ECANCELED when a callback freed the loop meanwhile). */
int64_t dmaio__wait_for(struct dmaio_loop *loop, struct dmaio__waiter *w);

#endif /* DMAIO_WAIT_H */
