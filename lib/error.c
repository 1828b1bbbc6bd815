/* SPDX-License-Identifier: MIT */
/*
 * Error text. Return codes carry the error; this only describes it, plus a
 * per-thread message for failures with more to say (aio-max-nr).
 */
#include "base.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static __thread char last_error[512];
static __thread char strerror_buf[64];

DMAIO_EXPORT const char *dmaio_strerror(int err)
{
	if (err < 0)
		err = -err;
	if (err == 0)
		return "Success";
	/* GNU strerror_r: returns a static string, or fills our buffer */
	return strerror_r(err, strerror_buf, sizeof(strerror_buf));
}

DMAIO_EXPORT const char *dmaio_last_error(void)
{
	return last_error;
}

void dmaio__set_last_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
}

int dmaio__fail(int err, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	/* the rule, then what the error code says */
	if (n >= 0 && (size_t)n < sizeof(last_error))
		snprintf(last_error + n, sizeof(last_error) - (size_t)n,
			 " (%s)", dmaio_strerror(err));
	return err;
}
