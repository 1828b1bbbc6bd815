/* SPDX-License-Identifier: MIT */
/*
 * A file's I/O class, and cancelling what of its I/O still waits in the
 * dispatcher (held back by its class, or by its device's cap).
 */
#include "file.h"

DMAIO_EXPORT int dmaio_file_set_class(struct dmaio_file *f,
				      struct dmaio_class *c)
{
	int ret = dmaio__file_check(f, "set_class");

	DMAIO__NOT_INHERITED(f ? f->loop : NULL, -EBADFD);
	if (ret)
		return ret;
	if (c && c->loop != f->loop)
		return dmaio__fail(-EINVAL, "set_class: class '%s' belongs to "
				   "another loop than the file %s", c->name,
				   f->path ? f->path : "");
	if (f->cls)
		f->cls->nfiles--;
	if (c)
		c->nfiles++;
	/* wait_direct.c looks from other threads */
	__atomic_store_n(&f->cls, c, __ATOMIC_RELAXED);
	return 0;
}

DMAIO_EXPORT int dmaio_file_cancel(struct dmaio_file *f)
{
	size_t n;

	DMAIO__NOT_INHERITED(f ? f->loop : NULL, -EBADFD);
	if (!f)
		return dmaio__fail(-EINVAL, "cancel: file is NULL");
	n = dmaio__dispatch_cancel(f->loop, f);
	return n > 0x7fffffff ? 0x7fffffff : (int)n;
}
