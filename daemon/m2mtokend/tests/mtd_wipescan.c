/*
 * mtd_wipescan: the client side of test_m2mtokend_wipe.sh.  Seals and
 * opens a random marker through libm2mtoken-client (the typed calls and
 * the generic m2m_client_call), a short plaintext and one of several KiB
 * (the reader's buffer grows past what it keeps between frames), wipes
 * its own copies, then reads all of its own writable memory: neither the
 * marker nor its base64 form may be left by the library.
 *
 *   mtd_wipescan SOCKET E2EKEYID
 *
 * Prints "ok:" lines; exits 1 on a failure.  The marker is made here and
 * only ever held masked (XOR 0x5a) outside the calls, so the scan cannot
 * find the test's own needle.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <m2mtoken/client.h>

#define MASK		0x5a
#define MARK_LEN	48	/* hex digits; a multiple of 3: base64 aligns */
#define B64_LEN		40	/* of its base64 form, searched for */
#define REPEAT		200	/* markers in the long plaintext: 9600 bytes */

/* the needles, masked */
static uint8_t	mark_x[MARK_LEN];
static uint8_t	b64_x[B64_LEN];

static void
fail(const char *what, int r, const struct m2m_client_error *err)
{
	fprintf(stderr, "FAIL: %s: %s (%s %s %s)\n", what,
	    m2m_client_strerror(r), err->name, err->reason, err->detail);
	exit(1);
}

/*
 * A larger writable range is ASan's shadow (terabytes), not memory of the
 * library's: a glibc arena's heap is at most 64 MiB.
 */
#define SCAN_MAX	((unsigned long)64 << 20)
#define OVERLAP		(MARK_LEN - 1)	/* the longer needle, less one */

static uint8_t	chunk[65536];	/* scan()'s reads: wiped after each */

/* Copies of the masked needle n (len bytes) in p[0..plen). */
static size_t
count_in(const uint8_t *p, size_t plen, const uint8_t *n, size_t len)
{
	size_t i, j, hits = 0;

	for (i = 0; i + len <= plen; i++) {
		for (j = 0; j < len; j++)
			if ((uint8_t)(p[i + j] ^ MASK) != n[j])
				break;
		if (j == len)
			hits++;
	}
	return hits;
}

/*
 * Copies of either needle in this process's writable mappings, read
 * through /proc/self/mem, not pointers: ASan would report its redzones
 * and freed blocks, and a range the kernel will not read is skipped, not
 * a fault.  (size_t)-1 if /proc cannot be read.
 */
static size_t
scan(void)
{
	char line[512], perm[8];
	unsigned long lo, hi, off;
	size_t len, hits = 0;
	ssize_t n;
	FILE *f;
	int fd;

	if ((fd = open("/proc/self/mem", O_RDONLY | O_CLOEXEC)) < 0)
		return (size_t)-1;
	if ((f = fopen("/proc/self/maps", "re")) == NULL) {
		close(fd);
		return (size_t)-1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perm) != 3 ||
		    perm[0] != 'r' || perm[1] != 'w' || hi - lo > SCAN_MAX)
			continue;
		/* chunks overlap by OVERLAP: no copy falls between two */
		for (off = lo; off < hi; off += len - OVERLAP) {
			len = hi - off < sizeof(chunk) ? hi - off :
			    sizeof(chunk);
			if ((n = pread(fd, chunk, len, (off_t)off)) <= 0)
				break;
			/* one in an overlap counts twice: the test wants none */
			hits += count_in(chunk, (size_t)n, mark_x, MARK_LEN);
			hits += count_in(chunk, (size_t)n, b64_x, B64_LEN);
			if ((size_t)n < len || off + len >= hi)
				break;
		}
	}
	explicit_bzero(chunk, sizeof(chunk));
	fclose(f);
	close(fd);
	return hits;
}

/* Seals and opens pt (len bytes) with the typed calls, or exits. */
static void
typed(struct m2m_client *c, const char *key, const uint8_t *pt, size_t len)
{
	struct m2m_client_error err;
	uint8_t iv[12], *ct = NULL, *back = NULL;
	size_t ctl = 0, backl = 0;
	int r;

	if ((r = m2m_client_seal(c, key, 0, NULL, 0, pt, len, iv, &ct, &ctl,
	    &err)) != 0)
		fail("seal", r, &err);
	if ((r = m2m_client_open(c, key, 0, NULL, 0, iv, ct, ctl, &back,
	    &backl, &err)) != 0)
		fail("open", r, &err);
	if (backl != len || memcmp(back, pt, len) != 0)
		fail("open: not the plaintext", 0, &err);
	OPENSSL_cleanse(back, backl);
	free(back);
	free(ct);
}

/* Opens a sealed pt through m2m_client_call (the CLI's way). */
static void
generic(struct m2m_client *c, const char *key, const uint8_t *pt, size_t len)
{
	struct m2m_client_error err;
	uint8_t iv[12], *ct = NULL;
	size_t ctl = 0, pl;
	char *params, *out = NULL;
	int r;

	if ((r = m2m_client_seal(c, key, 0, NULL, 0, pt, len, iv, &ct, &ctl,
	    &err)) != 0)
		fail("seal", r, &err);
	pl = 64 + strlen(key) + 4 * ctl / 3 + 64;
	if ((params = malloc(pl)) == NULL)
		fail("malloc", 0, &err);
	r = snprintf(params, pl, "{\"key\":\"%s\",\"iv\":\"", key);
	r += EVP_EncodeBlock((uint8_t *)params + r, iv, 12);
	r += snprintf(params + r, pl - (size_t)r, "\",\"ciphertext\":\"");
	r += EVP_EncodeBlock((uint8_t *)params + r, ct, (int)ctl);
	snprintf(params + r, pl - (size_t)r, "\"}");
	if ((r = m2m_client_call(c, "io.m2mtoken.Open", params, &out,
	    &err)) != 0)
		fail("generic open", r, &err);
	if (strstr(out, "\"plaintext\"") == NULL)
		fail("generic open: no plaintext", 0, &err);
	OPENSSL_cleanse(out, strlen(out));
	free(out);
	free(params);
	free(ct);
}

int
main(int argc, char **argv)
{
	static const char hex[] = "0123456789abcdef";
	struct m2m_client_error err;
	struct m2m_client *c = NULL;
	uint8_t rnd[MARK_LEN / 2], *pt;
	char b64[MARK_LEN / 3 * 4 + 1];
	size_t i, hits, len = (size_t)MARK_LEN * REPEAT;
	int fd, r;

	memset(&err, 0, sizeof(err));
	if (argc != 3)
		fail("usage: mtd_wipescan SOCKET E2EKEYID", 0, &err);
	if ((fd = open("/dev/urandom", O_RDONLY)) == -1 ||
	    read(fd, rnd, sizeof(rnd)) != (ssize_t)sizeof(rnd))
		fail("/dev/urandom", 0, &err);
	close(fd);
	if ((pt = malloc(len)) == NULL)
		fail("malloc", 0, &err);
	for (i = 0; i < MARK_LEN; i++)
		pt[i] = (uint8_t)hex[(rnd[i / 2] >> (i % 2 ? 0 : 4)) & 0xf];
	OPENSSL_cleanse(rnd, sizeof(rnd));
	EVP_EncodeBlock((uint8_t *)b64, pt, MARK_LEN);
	for (i = 0; i < MARK_LEN; i++)
		mark_x[i] = pt[i] ^ MASK;
	for (i = 0; i < B64_LEN; i++)
		b64_x[i] = (uint8_t)b64[i] ^ MASK;
	OPENSSL_cleanse(b64, sizeof(b64));
	for (i = 1; i < REPEAT; i++)
		memcpy(pt + i * MARK_LEN, pt, MARK_LEN);
	/* at least: one in two chunks' overlap counts twice */
	if ((hits = scan()) < REPEAT)
		fail("the scan does not find the markers where they are", 0,
		    &err);

	if ((r = m2m_client_connect(argv[1], 5000, &c)) != 0)
		fail("connect", r, &err);
	typed(c, argv[2], pt, MARK_LEN);
	typed(c, argv[2], pt, len);
	generic(c, argv[2], pt, MARK_LEN);
	generic(c, argv[2], pt, len);
	/* the connection and its reader stay: they live between calls */
	OPENSSL_cleanse(pt, len);
	free(pt);
	hits = scan();
	printf("%s: client after Seal+Open (typed and generic, %d and %zu "
	    "bytes): %zu copies of the marker or its base64 left\n",
	    hits == 0 ? "ok" : "FAIL", MARK_LEN, len, hits);
	m2m_client_close(c);
	if (hits == 0 && (hits = scan()) != 0)
		printf("FAIL: after m2m_client_close: %zu copies left\n",
		    hits);
	else if (hits == 0)
		printf("ok: none after m2m_client_close either\n");
	return hits == 0 ? 0 : 1;
}
