/* SPDX-License-Identifier: MIT */
/*
 * The tests' assertion layer (tu_assert.h): integers compare as 64-bit
 * values, so (int64_t)1 << 32 and 0 are unequal (Check 0.9.9's own
 * ck_assert_int_eq, comparing ints, calls them equal), and the forms
 * 0.9.9 lacks are there. Each wrong assertion runs in a suite of its own
 * (forked) and must fail there, with the values in its message.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* not constants: the compiler would see a truncation of those */
static volatile int64_t big = (int64_t)1 << 32;
static volatile uint64_t umax = UINT64_MAX;

static int flag;

/*
 * Runs the test case tc (one wrong assertion) as a forked suite of its
 * own and checks that it failed with shows in its message. (A macro adds
 * the test: Check 0.9.9 and later versions pass tests by different types.)
 */
static void must_fail(TCase *tc, const char *name, const char *shows)
{
	Suite *s = suite_create("inner");
	SRunner *sr;
	TestResult **r;
	char msg[512];
	int failed;

	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	/* a failed assertion ends its process: never this one */
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_SILENT);
	failed = srunner_ntests_failed(sr);
	r = srunner_results(sr);
	snprintf(msg, sizeof(msg), "%s",
		 r && r[0] && tr_msg(r[0]) ? tr_msg(r[0]) : "");
	free(r);
	srunner_free(sr);
	ck_assert_msg(failed == 1, "%s passed", name);
	ck_assert_msg(strstr(msg, shows) != NULL, "%s: message '%s' lacks '%s'",
		      name, msg, shows);
}
#define MUST_FAIL(fn, shows)                              \
	do {                                              \
		TCase *tc_ = tcase_create(#fn);           \
		tcase_add_test(tc_, fn);                  \
		must_fail(tc_, #fn, shows);               \
	} while (0)

START_TEST(wrong_int_eq) { ck_assert_int_eq(big, 0); } END_TEST
START_TEST(wrong_int_ne) { ck_assert_int_ne(big + 7, big + 7); } END_TEST
START_TEST(wrong_int_lt) { ck_assert_int_lt(big, 1); } END_TEST
START_TEST(wrong_uint_eq) { ck_assert_uint_eq((uint64_t)big, 0); } END_TEST
START_TEST(wrong_uint_le) { ck_assert_uint_le(umax, (uint32_t)umax); } END_TEST
START_TEST(wrong_ptr_null) { ck_assert_ptr_null(&flag); } END_TEST
START_TEST(wrong_ptr_nonnull) { ck_assert_ptr_nonnull(NULL); } END_TEST
START_TEST(wrong_ptr_eq)
{
	ck_assert_ptr_eq(&flag, &flag + 1);
}
END_TEST
START_TEST(wrong_mem_eq) { ck_assert_mem_eq("abcd", "abce", 4); } END_TEST

/* Each wrong assertion fails, and says which values it compared. */
START_TEST(assert_wrong_ones_fail)
{
	MUST_FAIL(wrong_int_eq, "4294967296");
	MUST_FAIL(wrong_int_ne, "4294967303");
	MUST_FAIL(wrong_int_lt, "4294967296");
	MUST_FAIL(wrong_uint_eq, "4294967296");
	MUST_FAIL(wrong_uint_le, "18446744073709551615");
	MUST_FAIL(wrong_ptr_null, "&flag");
	MUST_FAIL(wrong_ptr_nonnull, "NULL");
	MUST_FAIL(wrong_ptr_eq, "&flag");
	MUST_FAIL(wrong_mem_eq, "4 bytes");
}
END_TEST

/* And the right ones pass, on the 64-bit values themselves. */
START_TEST(assert_right_ones_pass)
{
	int x;

	ck_assert_int_ne(big, 0);
	ck_assert_int_eq(big + 1, big + 1);
	ck_assert_int_gt(big, 1);
	ck_assert_int_lt(-big, -1);
	ck_assert_int_ge(big, big);
	ck_assert_uint_ne((uint64_t)big, 0);
	ck_assert_uint_gt(umax, (uint64_t)big);
	ck_assert_ptr_nonnull(&x);
	ck_assert_ptr_null(NULL);
	ck_assert_ptr_eq(&x, &x);
	ck_assert_ptr_ne(&x, NULL);
	ck_assert_mem_eq("abcd", "abcd", 4);
	ck_assert_mem_ne("abcd", "abce", 4);
	ck_assert_str_eq("abc", "abc");
	ck_assert_msg(strstr("abc", "b"), "a pointer as the condition");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("assert");
	TCase *tc = tu_tcase(s, "assert");

	TU_ADD(tc, assert_wrong_ones_fail);
	TU_ADD(tc, assert_right_ones_pass);
	return tu_run(s);
}
