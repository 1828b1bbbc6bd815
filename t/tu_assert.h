/* SPDX-License-Identifier: MIT */
/*
 * The assertions every test uses, the same on each Check we support:
 * EPEL 7's 0.9.9 compares ck_assert_int_* as int (a 64-bit result is
 * truncated: 1 << 32 "equals" 0) and lacks the uint (0.9.10), ptr_eq/ne
 * (0.9.10), ptr_null/nonnull and mem (0.11) forms. Included right after
 * <check.h>, this header (re)defines them under Check's own names, so a
 * test written against current Check compiles against 0.9.9 too, and
 * integers are always compared as intmax_t / uintmax_t. Only ck_assert_msg
 * is taken from Check: every version since 0.9.6 has it.
 */
#ifndef DMAIO_TU_ASSERT_H
#define DMAIO_TU_ASSERT_H

#include <check.h>
#include <stdint.h>
#include <string.h>

/*
 * 0.9.9 passes the condition to a function taking int: a pointer there
 * ("ck_assert_msg(strstr(a, b), ...)", fine on current Check) does not
 * compile with -Werror. Test it for truth first, as later versions do.
 */
#if CHECK_MAJOR_VERSION == 0 && CHECK_MINOR_VERSION == 9 && \
	CHECK_MICRO_VERSION <= 9
#undef ck_assert_msg
#define ck_assert_msg(expr, ...)                                          \
	_ck_assert_msg(!!(expr), __FILE__, __LINE__,                      \
		       "Assertion '" #expr "' failed", ##__VA_ARGS__, NULL)
#endif

#define tu__assert_int(X, OP, Y)                                          \
	do {                                                              \
		intmax_t tu__x = (X);                                     \
		intmax_t tu__y = (Y);                                     \
		ck_assert_msg(tu__x OP tu__y,                             \
			      "Assertion '%s' failed: %s == %jd, %s == %jd", \
			      #X " " #OP " " #Y, #X, tu__x, #Y, tu__y);   \
	} while (0)

#define tu__assert_uint(X, OP, Y)                                         \
	do {                                                              \
		uintmax_t tu__x = (X);                                    \
		uintmax_t tu__y = (Y);                                    \
		ck_assert_msg(tu__x OP tu__y,                             \
			      "Assertion '%s' failed: %s == %ju, %s == %ju", \
			      #X " " #OP " " #Y, #X, tu__x, #Y, tu__y);   \
	} while (0)

#define tu__assert_ptr(X, OP, Y)                                          \
	do {                                                              \
		const void *tu__x = (X);                                  \
		const void *tu__y = (Y);                                  \
		ck_assert_msg(tu__x OP tu__y,                             \
			      "Assertion '%s' failed: %s == %p, %s == %p", \
			      #X " " #OP " " #Y, #X, tu__x, #Y, tu__y);   \
	} while (0)

#define tu__assert_mem(X, OP, Y, L)                                       \
	do {                                                              \
		const void *tu__x = (X);                                  \
		const void *tu__y = (Y);                                  \
		size_t tu__l = (L);                                       \
		ck_assert_msg(memcmp(tu__x, tu__y, tu__l) OP 0,           \
			      "Assertion '%s' failed: %zu bytes at %s "   \
			      "and %s", #X " " #OP " " #Y, tu__l, #X, #Y); \
	} while (0)

#undef ck_assert_int_eq
#undef ck_assert_int_ne
#undef ck_assert_int_lt
#undef ck_assert_int_le
#undef ck_assert_int_gt
#undef ck_assert_int_ge
#define ck_assert_int_eq(X, Y) tu__assert_int(X, ==, Y)
#define ck_assert_int_ne(X, Y) tu__assert_int(X, !=, Y)
#define ck_assert_int_lt(X, Y) tu__assert_int(X, <, Y)
#define ck_assert_int_le(X, Y) tu__assert_int(X, <=, Y)
#define ck_assert_int_gt(X, Y) tu__assert_int(X, >, Y)
#define ck_assert_int_ge(X, Y) tu__assert_int(X, >=, Y)

#undef ck_assert_uint_eq
#undef ck_assert_uint_ne
#undef ck_assert_uint_lt
#undef ck_assert_uint_le
#undef ck_assert_uint_gt
#undef ck_assert_uint_ge
#define ck_assert_uint_eq(X, Y) tu__assert_uint(X, ==, Y)
#define ck_assert_uint_ne(X, Y) tu__assert_uint(X, !=, Y)
#define ck_assert_uint_lt(X, Y) tu__assert_uint(X, <, Y)
#define ck_assert_uint_le(X, Y) tu__assert_uint(X, <=, Y)
#define ck_assert_uint_gt(X, Y) tu__assert_uint(X, >, Y)
#define ck_assert_uint_ge(X, Y) tu__assert_uint(X, >=, Y)

#undef ck_assert_ptr_eq
#undef ck_assert_ptr_ne
#undef ck_assert_ptr_null
#undef ck_assert_ptr_nonnull
#define ck_assert_ptr_eq(X, Y) tu__assert_ptr(X, ==, Y)
#define ck_assert_ptr_ne(X, Y) tu__assert_ptr(X, !=, Y)
#define ck_assert_ptr_null(X) tu__assert_ptr(X, ==, NULL)
#define ck_assert_ptr_nonnull(X) tu__assert_ptr(X, !=, NULL)

#undef ck_assert_mem_eq
#undef ck_assert_mem_ne
#define ck_assert_mem_eq(X, Y, L) tu__assert_mem(X, ==, Y, L)
#define ck_assert_mem_ne(X, Y, L) tu__assert_mem(X, !=, Y, L)

#endif
