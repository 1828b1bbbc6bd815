/* SPDX-License-Identifier: MIT */
/*
 * Internals of dmaio-tune (tools/tune_model.c, built in): the model drawn
 * from measured points. The knee on made-up curves (a plateau, a noisy
 * dip, growth to the end, a flat device), and which point gives each
 * field. The file it writes is checked by t/test-tune.sh.
 */
#include "testutil.h"
#include "../tools/tune.h" /* tools/ is not on every include path */

#include <string.h>

/* A curve at depths 1, 2, 4 ...: iops[i]; latency by Little's law. */
static int curve(struct tune_point *pt, const double *iops, int n)
{
	int i;

	memset(pt, 0, sizeof(*pt) * (size_t)n);
	for (i = 0; i < n; i++) {
		pt[i].depth = 1u << i;
		pt[i].bs = 4096;
		pt[i].iops = iops[i];
		pt[i].lat_mean_us = 1e6 * pt[i].depth / iops[i];
		pt[i].lat_p50_us = pt[i].lat_mean_us;
	}
	return n;
}

START_TEST(knee_at_the_plateau)
{
	static const double iops[] = { 10e3, 20e3, 40e3, 80e3, 82e3, 83e3,
				       83e3, 84e3 };
	struct tune_point pt[8];

	ck_assert_uint_eq(tune_knee(pt, curve(pt, iops, 8)), 8);
}
END_TEST

/* One slow point is not the plateau while deeper ones do better. */
START_TEST(knee_past_a_dip)
{
	static const double iops[] = { 10e3, 20e3, 40e3, 30e3, 80e3, 90e3,
				       92e3, 93e3 };
	struct tune_point pt[8];

	ck_assert_uint_eq(tune_knee(pt, curve(pt, iops, 8)), 32);
}
END_TEST

START_TEST(knee_when_it_grows_to_the_end)
{
	static const double iops[] = { 1e3, 2e3, 4e3, 8e3, 16e3, 32e3, 64e3,
				       128e3 };
	struct tune_point pt[8];

	ck_assert_uint_eq(tune_knee(pt, curve(pt, iops, 8)), 128);
	ck_assert_uint_eq(tune_knee(pt, 4), 8);
	ck_assert_uint_eq(tune_knee(pt, 1), 1);
	ck_assert_uint_eq(tune_knee(pt, 0), 0);
}
END_TEST

START_TEST(knee_of_a_flat_device)
{
	static const double iops[] = { 150, 160, 158, 161, 155 };
	struct tune_point pt[5];

	ck_assert_uint_eq(tune_knee(pt, curve(pt, iops, 5)), 1);
}
END_TEST

/* Where the rate stops but the wait does not grow, the queue is not yet
 * too deep. */
START_TEST(knee_needs_the_latency_to_climb)
{
	static const double iops[] = { 100e3, 101e3, 102e3 };
	struct tune_point pt[3];

	curve(pt, iops, 3);
	pt[1].lat_mean_us = pt[0].lat_mean_us;
	ck_assert_uint_eq(tune_knee(pt, 3), 2);
}
END_TEST

START_TEST(model_fields)
{
	static const double rd[] = { 5e3, 9e3, 17e3, 18e3 };
	static const double wr[] = { 8e3, 16e3, 17e3, 17.5e3 };
	struct tune_result r;

	memset(&r, 0, sizeof(r));
	r.nrr = curve(r.rr, rd, 4);
	r.nrw = curve(r.rw, wr, 4);
	r.rr[0].lat_p50_us = 180.4;
	r.rw[0].lat_p50_us = 0.2;
	r.nsr = r.nsw = 2;
	r.sr[0].bw = 400e6;
	r.sr[1].bw = 900e6;
	r.sw[0].bw = 700e6;
	r.sw[1].bw = 650e6;
	tune_model(&r);
	ck_assert_uint_eq(r.read_iops, 18000);
	ck_assert_uint_eq(r.write_iops, 17500);
	ck_assert_uint_eq(r.read_bw, 900000000);
	ck_assert_uint_eq(r.write_bw, 700000000);
	ck_assert_uint_eq(r.read_knee, 4);
	ck_assert_uint_eq(r.write_knee, 2);
	/* the device is kept busy enough for either kind */
	ck_assert_uint_eq(r.knee_depth, 4);
	ck_assert_uint_eq(r.read_lat_us, 180);
	ck_assert_uint_eq(r.write_lat_us, 1); /* never 0: that is "none" */
	/* no depth-1 point, no latency */
	r.rr[0].depth = 2;
	tune_model(&r);
	ck_assert_uint_eq(r.read_lat_us, 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tune_model");
	TCase *tc = tu_tcase(s, "tune_model");

	TU_ADD(tc, knee_at_the_plateau);
	TU_ADD(tc, knee_past_a_dip);
	TU_ADD(tc, knee_when_it_grows_to_the_end);
	TU_ADD(tc, knee_of_a_flat_device);
	TU_ADD(tc, knee_needs_the_latency_to_climb);
	TU_ADD(tc, model_fields);
	return tu_run(s);
}
