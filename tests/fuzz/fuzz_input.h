/*
 * tests/fuzz: a reader over a fuzzer's input, for targets that build
 * structured arguments (lengths, flags, pointers) from raw bytes.  Reads
 * past the end give zeros and an empty buffer, never fail: every input
 * means something, so that libFuzzer's mutations stay useful.
 */
#ifndef M2M_FUZZ_INPUT_H
#define M2M_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct fuzz_in {
	const uint8_t	*p;
	size_t		 len;
};

static inline void
fuzz_in_init(struct fuzz_in *in, const uint8_t *p, size_t len)
{
	in->p = p;
	in->len = len;
}

/* The next byte, or 0 at the end. */
static inline uint8_t
fuzz_u8(struct fuzz_in *in)
{
	uint8_t v = 0;

	if (in->len > 0) {
		v = in->p[0];
		in->p++;
		in->len--;
	}
	return v;
}

/* The next n (<= 8) bytes, big endian, missing bytes 0. */
static inline uint64_t
fuzz_un(struct fuzz_in *in, size_t n)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < n; i++)
		v = v << 8 | fuzz_u8(in);
	return v;
}

/*
 * A length: one byte selects a small value (0..239), a boundary near a
 * power of two, or a full 64-bit value (so that checks against named
 * maxima and overflow are reached).
 */
static inline uint64_t
fuzz_len(struct fuzz_in *in)
{
	uint8_t b = fuzz_u8(in);

	if (b < 240)
		return b;
	switch (b) {
	case 240:
		return fuzz_un(in, 2);
	case 241:
		return fuzz_un(in, 4);
	case 242:
		return fuzz_un(in, 8);
	default:
		/* 2^k - 1, 2^k, 2^k + 1, k = 8, 10, 12, 16, 20, 31, 32, 63 */
		{
			static const unsigned k[] = {
				8, 10, 12, 16, 20, 31, 32, 63
			};
			uint64_t base = 1ULL << k[(b - 243) % 8];

			return base - 1 + (uint64_t)((b - 243) / 8 % 3);
		}
	}
}

/* Up to n bytes of the input (fewer at its end); *ret_n says how many. */
static inline const uint8_t *
fuzz_bytes(struct fuzz_in *in, size_t n, size_t *ret_n)
{
	const uint8_t *p = in->p;

	if (n > in->len)
		n = in->len;
	in->p += n;
	in->len -= n;
	*ret_n = n;
	return p;
}

#endif /* M2M_FUZZ_INPUT_H */
