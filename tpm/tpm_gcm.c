/*
 * m2mtoken: AES-GCM (NIST SP 800-38D) from a block-encryption oracle, for a
 * TPM that has AES but no GCM.  Every use of the key K is a call to the
 * oracle (the TPM); the host computes GHASH with H = E_K(0^128), the counter
 * blocks and the XORs.  See tpm_int.h.
 */
#include <string.h>

#include "err.h"
#include "secret.h"
#include "tpm_int.h"

#define GCM_BLOCK	16
#define GCM_CHUNK	64	/* oracle blocks per call (1024-byte buffer) */

struct ghash {
	uint64_t	hh, hl;	/* H */
	uint64_t	yh, yl;	/* running Y */
};

static uint64_t
load64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

static void
store64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

/*
 * Y = Y * H in GF(2^128), bit-serial (SP 800-38D algorithm 1), with masks
 * instead of branches so the time does not depend on H or Y.
 */
static void
gf_mul(struct ghash *g)
{
	uint64_t zh = 0, zl = 0, vh = g->hh, vl = g->hl, m, x;
	int i;

	for (i = 0; i < 128; i++) {
		x = i < 64 ? g->yh >> (63 - i) : g->yl >> (127 - i);
		m = -(x & 1);
		zh ^= vh & m;
		zl ^= vl & m;
		m = -(vl & 1);
		vl = (vl >> 1) | (vh << 63);
		vh = (vh >> 1) ^ (0xe100000000000000ULL & m);
	}
	g->yh = zh;
	g->yl = zl;
}

/* GHASH over p[0..len), the last block zero-padded. */
static void
ghash_update(struct ghash *g, const uint8_t *p, size_t len)
{
	uint8_t last[GCM_BLOCK];

	while (len >= GCM_BLOCK) {
		g->yh ^= load64(p);
		g->yl ^= load64(p + 8);
		gf_mul(g);
		p += GCM_BLOCK;
		len -= GCM_BLOCK;
	}
	if (len > 0) {
		memset(last, 0, sizeof(last));
		memcpy(last, p, len);
		g->yh ^= load64(last);
		g->yl ^= load64(last + 8);
		gf_mul(g);
		m2m_wipe(last, sizeof(last));
	}
}

/* The final GHASH block: bit lengths of A and C. */
static void
ghash_lengths(struct ghash *g, uint64_t alen, uint64_t clen)
{
	g->yh ^= alen * 8;
	g->yl ^= clen * 8;
	gf_mul(g);
}

/* Increment the rightmost 32 bits of a counter block, mod 2^32. */
static void
inc32(uint8_t *b)
{
	uint32_t c = ((uint32_t)b[12] << 24) | ((uint32_t)b[13] << 16) |
	    ((uint32_t)b[14] << 8) | b[15];

	c++;
	b[12] = (uint8_t)(c >> 24);
	b[13] = (uint8_t)(c >> 16);
	b[14] = (uint8_t)(c >> 8);
	b[15] = (uint8_t)c;
}

/* see tpm_int.h */
int
m2m_tpm_gcm(tpm_ecb_fn ecb, void *arg, size_t maxblocks, int encrypt,
    const uint8_t *iv, size_t ivlen, const uint8_t *aad, size_t aadlen,
    size_t taglen, const uint8_t *in, size_t inlen, uint8_t *out,
    size_t *ret_outlen)
{
	uint8_t y[GCM_CHUNK * GCM_BLOCK], ks[GCM_CHUNK * GCM_BLOCK];
	uint8_t j0[GCM_BLOCK], ctr[GCM_BLOCK], ej0[GCM_BLOCK];
	uint8_t tag[GCM_BLOCK], blk[GCM_BLOCK];
	struct m2m_secret *tmp = NULL;
	struct ghash g;
	size_t datalen, remaining, pos = 0, n, k, j, nb, i;
	uint8_t *t;
	int first = 1, r = M2M_ERR_INTERNAL;

	memset(&g, 0, sizeof(g));
	memset(ej0, 0, sizeof(ej0));
	if (maxblocks > GCM_CHUNK)
		maxblocks = GCM_CHUNK;
	if (ecb == NULL || maxblocks < 2 || iv == NULL || ivlen == 0 ||
	    taglen < 4 || taglen > GCM_BLOCK || (aad == NULL && aadlen != 0) ||
	    (in == NULL && inlen != 0) || out == NULL || ret_outlen == NULL ||
	    (!encrypt && inlen < taglen)) {
		r = M2M_ERR_INVALID_ARGUMENT;
		goto out;
	}
	datalen = encrypt ? inlen : inlen - taglen;
	/* the result is assembled in locked memory, copied out on success */
	if ((r = m2m_secret_new(datalen, &tmp)) != 0)
		goto out;
	t = m2m_secret_data(tmp);

	if (ivlen == 12) {
		/* J0 = IV || 0^31 || 1; H comes with the first batch */
		memcpy(j0, iv, 12);
		j0[12] = j0[13] = j0[14] = 0;
		j0[15] = 1;
	} else {
		/* H, then J0 = GHASH_H(IV || 0^s || 0^64 || [len(IV)]64) */
		memset(blk, 0, sizeof(blk));
		if ((r = ecb(arg, blk, ks, 1)) != 0)
			goto out;
		g.hh = load64(ks);
		g.hl = load64(ks + 8);
		ghash_update(&g, iv, ivlen);
		ghash_lengths(&g, 0, ivlen);
		store64(j0, g.yh);
		store64(j0 + 8, g.yl);
		g.yh = g.yl = 0;
	}
	memcpy(ctr, j0, sizeof(ctr));

	/*
	 * Oracle batches: the first starts with [0^128,] J0 (for H and the
	 * tag mask E_K(J0)), then counter blocks inc32(J0), inc32^2(J0), ...
	 */
	remaining = (datalen + GCM_BLOCK - 1) / GCM_BLOCK;
	do {
		n = 0;
		if (first) {
			if (ivlen == 12) {
				memset(y, 0, GCM_BLOCK);
				n++;
			}
			memcpy(y + n * GCM_BLOCK, j0, GCM_BLOCK);
			n++;
		}
		k = remaining < maxblocks - n ? remaining : maxblocks - n;
		for (j = 0; j < k; j++) {
			inc32(ctr);
			memcpy(y + (n + j) * GCM_BLOCK, ctr, GCM_BLOCK);
		}
		if ((r = ecb(arg, y, ks, n + k)) != 0)
			goto out;
		if (first) {
			if (ivlen == 12) {
				g.hh = load64(ks);
				g.hl = load64(ks + 8);
			}
			memcpy(ej0, ks + (n - 1) * GCM_BLOCK, GCM_BLOCK);
		}
		/* t = in ^ keystream for these k blocks (last may be short) */
		for (j = 0; j < k; j++) {
			nb = datalen - pos < GCM_BLOCK ? datalen - pos :
			    GCM_BLOCK;
			for (i = 0; i < nb; i++)
				t[pos + i] = in[pos + i] ^
				    ks[(n + j) * GCM_BLOCK + i];
			pos += nb;
		}
		remaining -= k;
		first = 0;
	} while (remaining > 0);

	/* S = GHASH_H(A || 0^v || C || 0^u || [len(A)]64 || [len(C)]64) */
	ghash_update(&g, aad, aadlen);
	ghash_update(&g, encrypt ? t : in, datalen);
	ghash_lengths(&g, aadlen, datalen);
	store64(tag, g.yh);
	store64(tag + 8, g.yl);
	for (i = 0; i < GCM_BLOCK; i++)
		tag[i] ^= ej0[i];

	if (!encrypt && !m2m_ct_equal(tag, in + datalen, taglen)) {
		r = M2M_ERR_ENCRYPTED_DATA_INVALID;
		goto out;
	}
	if (datalen > 0)
		memcpy(out, t, datalen);
	if (encrypt)
		memcpy(out + datalen, tag, taglen);
	*ret_outlen = encrypt ? datalen + taglen : datalen;
	r = 0;
 out:
	m2m_wipe(ks, sizeof(ks));
	m2m_wipe(y, sizeof(y));
	m2m_wipe(j0, sizeof(j0));
	m2m_wipe(ctr, sizeof(ctr));
	m2m_wipe(ej0, sizeof(ej0));
	m2m_wipe(tag, sizeof(tag));
	m2m_wipe(&g, sizeof(g));
	m2m_secret_free(tmp);
	return r;
}
