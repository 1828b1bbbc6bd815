/* SPDX-License-Identifier: MIT */
/*
 * Placeholder for the device-model reader: no model is ever known, so the
 * dispatcher learns each device's capacity from completion latencies.
 * The reader that dmaio-tune's files feed replaces this file.
 */
#include "io_props.h"

#include <errno.h>

int dmaio__io_props_lookup(dev_t dev, struct dmaio__io_props *p)
{
	(void)dev;
	(void)p;
	return -ENOENT;
}
