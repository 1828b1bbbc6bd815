/* SPDX-License-Identifier: MIT */
#include "disable_words.h"

#include <dmaio.h>
#include <string.h>

static const struct {
	const char *word;
	uint64_t bit;
} words_known[] = {
#define DMAIO_FEATURE(bit, word, name, profile, desc, probe) { word, bit },
#include "features.def"
	{ "all", DMAIO_FEAT_ALL },
};
#define NKNOWN (sizeof(words_known) / sizeof(words_known[0]))

uint64_t dmaio__disable_words(const char *p,
			      void (*unknown)(const char *word, size_t n,
					      void *arg),
			      void *arg)
{
	uint64_t bits = 0;
	size_t i, n;

	while (p && *p) {
		n = strcspn(p, ", ");
		for (i = 0; i < NKNOWN; i++)
			if (strlen(words_known[i].word) == n &&
			    !strncmp(p, words_known[i].word, n))
				break;
		if (i < NKNOWN)
			bits |= words_known[i].bit;
		else if (n && unknown)
			unknown(p, n, arg);
		p += n;
		p += strspn(p, ", ");
	}
	return bits;
}

const char *dmaio__disable_word(size_t i)
{
	return i < NKNOWN ? words_known[i].word : NULL;
}
