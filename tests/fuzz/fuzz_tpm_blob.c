/*
 * fuzz_tpm_blob: the TPM backend's blob parser, m2m_tpm_blob_parse()
 * (tpm/tpm_blob.c; format in tpm/tpm_int.h): header, two TPM-marshalled
 * TPM2B_PUBLIC / TPM2B_PRIVATE pairs through tss2-mu, the templates each
 * public area must match (HMAC, AES, PIN, EC P-256 / P-384 generated or
 * imported).  Checks beyond memory and UB errors: the parse
 * is exact (a blob it accepts is rebuilt byte for byte by
 * m2m_tpm_blob_build()), and a failure is M2M_ERR_DATA_INVALID.
 *
 * Seeds: with M2M_FUZZ_WRITE_SEEDS=<dir> in the environment the target
 * writes one blob of each shape the backend makes (public areas from its
 * templates, placeholder private parts) into dir (tests/fuzz/gen_seeds.py).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "tpm_int.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int	LLVMFuzzerInitialize(int *argc, char ***argv);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tpm_blob b;
	uint8_t *copy, *out = NULL;
	size_t outlen = 0;
	int r;

	/* an exact-size heap copy: ASan sees any read past its end */
	if ((copy = malloc(size == 0 ? 1 : size)) == NULL)
		abort();
	if (size != 0)
		memcpy(copy, data, size);
	r = m2m_tpm_blob_parse(size == 0 ? NULL : copy, size, &b);
	if (r == 0) {
		if ((b.kind != M2M_KIND_HMAC && b.kind != M2M_KIND_AES &&
		    b.kind != TPM_KIND_PIN && b.kind != M2M_KIND_EC_P256 &&
		    b.kind != M2M_KIND_EC_P384) ||
		    m2m_tpm_blob_build(&b, &out, &outlen) != 0 ||
		    outlen != size || memcmp(out, copy, size) != 0)
			abort();
	} else if (r != M2M_ERR_DATA_INVALID)
		abort();
	free(out);
	free(copy);
	return 0;
}

static void
write_seed(const char *dir, const char *name, int kind, const TPM2B_PUBLIC *pub,
    int sealed)
{
	struct tpm_blob b;
	uint8_t *out = NULL;
	size_t n = 0;
	char path[512];
	FILE *fp;

	memset(&b, 0, sizeof(b));
	b.kind = kind;
	b.flags = sealed ? TPM_BLOB_F_SEALED : 0;
	b.obj.pub = *pub;
	b.obj.priv.size = 48;
	memset(b.obj.priv.buffer, 0xa5, 48);
	if (sealed) {
		m2m_tpm_tmpl_sealed(0, &b.sealed.pub);
		b.sealed.priv.size = 64;
		memset(b.sealed.priv.buffer, 0x5a, 64);
	}
	if (m2m_tpm_blob_build(&b, &out, &n) != 0)
		abort();
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fp = fopen(path, "wb")) == NULL || fwrite(out, 1, n, fp) != n ||
	    fclose(fp) != 0)
		abort();
	free(out);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("M2M_FUZZ_WRITE_SEEDS");
	TPM2B_PUBLIC t;

	(void)argc;
	(void)argv;
	if (dir == NULL)
		return 0;
	m2m_tpm_tmpl_hmac(32, &t);
	write_seed(dir, "seed-hmac32", M2M_KIND_HMAC, &t, 1);
	m2m_tpm_tmpl_hmac(M2M_KEY_MAX, &t);
	write_seed(dir, "seed-hmac128", M2M_KIND_HMAC, &t, 1);
	m2m_tpm_tmpl_aes(128, &t);
	write_seed(dir, "seed-aes128", M2M_KIND_AES, &t, 1);
	m2m_tpm_tmpl_aes(256, &t);
	write_seed(dir, "seed-aes256", M2M_KIND_AES, &t, 0);
	m2m_tpm_tmpl_sealed(1, &t);
	write_seed(dir, "seed-pin", TPM_KIND_PIN, &t, 0);
	/* EC keys: the point's coordinates as the TPM fills them */
	m2m_tpm_tmpl_ec(M2M_KIND_EC_P256, 1, &t);
	t.publicArea.unique.ecc.x.size = 32;
	t.publicArea.unique.ecc.y.size = 32;
	memset(t.publicArea.unique.ecc.x.buffer, 0x11, 32);
	memset(t.publicArea.unique.ecc.y.buffer, 0x22, 32);
	write_seed(dir, "seed-ec256", M2M_KIND_EC_P256, &t, 0);
	m2m_tpm_tmpl_ec(M2M_KIND_EC_P384, 0, &t);
	t.publicArea.unique.ecc.x.size = 48;
	t.publicArea.unique.ecc.y.size = 48;
	memset(t.publicArea.unique.ecc.x.buffer, 0x33, 48);
	memset(t.publicArea.unique.ecc.y.buffer, 0x44, 48);
	write_seed(dir, "seed-ec384-imported", M2M_KIND_EC_P384, &t, 0);
	exit(0);
}
