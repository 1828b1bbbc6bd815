/* SPDX-License-Identifier: MIT */
/*
 * Layer 0, disable_words.c: the words of DMAIO_DISABLE. The library turns
 * them into feature bits; dmaio-info, which builds this file in, names
 * the words the library ignores, by the same rule.
 */
#ifndef DMAIO_DISABLE_WORDS_H
#define DMAIO_DISABLE_WORDS_H

#include <stddef.h>
#include <stdint.h>

/*
 * The DMAIO_FEAT_ bits that words names (the words of features.def, or
 * "all"; separated by any run of commas and spaces). Each word it does
 * not know goes to unknown (word, its length, arg) if unknown is set.
 */
uint64_t dmaio__disable_words(const char *words,
			      void (*unknown)(const char *word, size_t n,
					      void *arg),
			      void *arg);

/* The i-th word it knows, NULL past the last: for a tool's message. */
const char *dmaio__disable_word(size_t i);

#endif /* DMAIO_DISABLE_WORDS_H */
