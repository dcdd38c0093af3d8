/*
 * Unit tests for tpm/: the TPM 2.0 backend, against a real swtpm (started by
 * support_swtpm.c, always stopped), with OpenSSL as the independent oracle.
 */
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "backend.h"
#include "conf.h"
#include "core.h"
#include "err.h"
#include "store.h"
#include "log.h"
#include "secret.h"
#include "support_capture.h"
#include "support_swtpm.h"
#include "support_tamper.h"
#include "../../tpm/tpm_int.h"	/* m2m_tpm_test_level_t() */

#define OPS		m2m_tpm_backend_ops
#define SENTINEL	((uint8_t *)(uintptr_t)0x5a5a5a5a)
#define SENTINEL_S	((struct m2m_secret *)(uintptr_t)0x5a5a5a5a)
#define PERSIST_H	0x81000101UL
#define FOREIGN_H	0x81000102UL

static struct m2m_swtpm *g_tpm;
static enum m2m_tpm_mode g_mode;	/* [tpm] mode for be_open() */
static int g_shared;	/* the mode the current test's backend runs in */

/* ---- helpers ------------------------------------------------------------ */

static void
hex2bin(const char *hex, uint8_t *out, size_t *len)
{
	size_t i, n = strlen(hex) / 2;
	unsigned int v;

	for (i = 0; i < n; i++) {
		assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
	*len = n;
}

static void
rnd(uint8_t *p, size_t n)
{
	if (n > 0)
		assert_int_equal(RAND_bytes(p, (int)n), 1);
}

static void *
be_open(size_t cache, unsigned long handle)
{
	struct m2m_conf c;
	char err[256] = "";
	void *impl = NULL;
	int r;

	memset(&c, 0, sizeof(c));
	c.tpm_tcti = (char *)m2m_swtpm_tcti(g_tpm);
	c.cache_size = cache;
	c.tpm_primary_handle = handle;
	c.tpm_mode = g_mode;
	r = OPS.open(&c, &impl, err, sizeof(err));
	if (r != 0)
		print_error("open: %s: %s\n", m2m_strerror(r), err);
	assert_int_equal(r, 0);
	assert_non_null(impl);
	return impl;
}

static void
wrap_ok(void *be, enum m2m_key_kind kind, const uint8_t *key, size_t len,
    struct m2m_keyref *ref, uint64_t id)
{
	uint8_t *blob = NULL;
	size_t bloblen = 0;

	assert_int_equal(OPS.wrap(be, kind, key, len, &blob, &bloblen), 0);
	assert_non_null(blob);
	assert_true(bloblen > 8 && bloblen <= M2M_BLOB_MAX);
	memset(ref, 0, sizeof(*ref));
	ref->id = id;
	ref->kind = kind;
	ref->blob = blob;
	ref->bloblen = bloblen;
}

static void
ref_free(struct m2m_keyref *ref)
{
	free((void *)ref->blob);
	ref->blob = NULL;
}

static const EVP_MD *
md_of(enum m2m_hash h)
{
	return h == M2M_HASH_SHA256 ? EVP_sha256() :
	    h == M2M_HASH_SHA384 ? EVP_sha384() : EVP_sha512();
}

static void
ossl_hmac(enum m2m_hash h, const uint8_t *k, size_t klen, const uint8_t *m,
    size_t mlen, uint8_t *out)
{
	static const uint8_t z[1];
	unsigned int n = 0;

	assert_non_null(HMAC(md_of(h), klen ? k : z, (int)klen, mlen ? m : z,
	    mlen, out, &n));
	assert_int_equal(n, m2m_hash_len(h));
}

static void
ossl_gcm(int enc, const uint8_t *key, size_t klen, const uint8_t *iv,
    size_t ivlen, const uint8_t *aad, size_t aadlen, const uint8_t *in,
    size_t inlen, size_t taglen, uint8_t *out)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	const EVP_CIPHER *ci = klen == 16 ? EVP_aes_128_gcm() :
	    klen == 24 ? EVP_aes_192_gcm() : EVP_aes_256_gcm();
	int n = 0;

	assert_non_null(c);
	assert_int_equal(EVP_CipherInit_ex(c, ci, NULL, NULL, NULL, enc), 1);
	assert_int_equal(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN,
	    (int)ivlen, NULL), 1);
	assert_int_equal(EVP_CipherInit_ex(c, NULL, NULL, key, iv, enc), 1);
	if (aadlen > 0)
		assert_int_equal(EVP_CipherUpdate(c, NULL, &n, aad,
		    (int)aadlen), 1);
	if (enc) {
		if (inlen > 0)
			assert_int_equal(EVP_CipherUpdate(c, out, &n, in,
			    (int)inlen), 1);
		assert_int_equal(EVP_CipherFinal_ex(c, out + inlen, &n), 1);
		assert_int_equal(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG,
		    (int)taglen, out + inlen), 1);
	}
	EVP_CIPHER_CTX_free(c);
}

/* A second ESAPI connection for test set-up, as another process would have
 * (tcti-swtpm connects for each command, so it interleaves freely). */
static ESYS_CONTEXT *
side_open(TSS2_TCTI_CONTEXT **tcti)
{
	ESYS_CONTEXT *e = NULL;

	assert_int_equal(Tss2_TctiLdr_Initialize(m2m_swtpm_tcti(g_tpm),
	    tcti), TSS2_RC_SUCCESS);
	assert_int_equal(Esys_Initialize(&e, *tcti, NULL), TSS2_RC_SUCCESS);
	return e;
}

static void
side_close(ESYS_CONTEXT *e, TSS2_TCTI_CONTEXT *tcti)
{
	Esys_Finalize(&e);
	Tss2_TctiLdr_Finalize(&tcti);
}

static void
da_reset(unsigned max_tries)
{
	TSS2_TCTI_CONTEXT *tcti = NULL;
	ESYS_CONTEXT *e = side_open(&tcti);

	assert_int_equal(Esys_DictionaryAttackLockReset(e, ESYS_TR_RH_LOCKOUT,
	    ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE), TSS2_RC_SUCCESS);
	assert_int_equal(Esys_DictionaryAttackParameters(e,
	    ESYS_TR_RH_LOCKOUT, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
	    max_tries, 600, 600), TSS2_RC_SUCCESS);
	side_close(e, tcti);
}

static int
closed_port(void)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	int fd, port;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true((fd = socket(AF_INET, SOCK_STREAM, 0)) != -1);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* ---- fixtures ----------------------------------------------------------- */

static int
group_setup(void **state)
{
	(void)state;
	if (m2m_swtpm_start(&g_tpm) != 0)
		return -1;
	/* shared mode's lock files: in the state directory, removed with it */
	return setenv("XDG_RUNTIME_DIR", m2m_swtpm_dir(g_tpm), 1);
}

static int
group_teardown(void **state)
{
	(void)state;
	m2m_swtpm_free(g_tpm);
	g_tpm = NULL;
	return 0;
}

/* Default mode (auto): chosen by the TCTI, so shared for swtpm (tpm_open.c). */
static int
be_setup(void **state)
{
	g_mode = M2M_TPM_MODE_AUTO;
	g_shared = 1;
	*state = be_open(64, 0);
	return 0;
}

/* Exclusive mode, as through /dev/tpmrm0: keys stay loaded. */
static int
be_setup_excl(void **state)
{
	g_mode = M2M_TPM_MODE_EXCLUSIVE;	/* [tpm] mode = exclusive */
	g_shared = 0;
	*state = be_open(64, 0);
	return 0;
}

static int
be_teardown(void **state)
{
	OPS.close(*state);
	g_mode = M2M_TPM_MODE_AUTO;
	return 0;
}

/* ---- open --------------------------------------------------------------- */

static void
test_open_absent(void **state)
{
	struct m2m_conf c;
	char tcti[64], err[256];
	void *impl = SENTINEL;

	(void)state;
	memset(&c, 0, sizeof(c));
	(void)snprintf(tcti, sizeof(tcti), "swtpm:host=127.0.0.1,port=%d",
	    closed_port());
	c.tpm_tcti = tcti;
	err[0] = '\0';
	assert_int_equal(OPS.open(&c, &impl, err, sizeof(err)),
	    M2M_ERR_BACKEND_ABSENT);
	assert_ptr_equal(impl, SENTINEL);
	assert_non_null(strstr(err, tcti));

	c.tpm_tcti = "device:/nonexistent/tpmrm9";
	err[0] = '\0';
	assert_int_equal(OPS.open(&c, &impl, err, sizeof(err)),
	    M2M_ERR_BACKEND_ABSENT);
	assert_ptr_equal(impl, SENTINEL);
	assert_non_null(strstr(err, "device:/nonexistent/tpmrm9"));

	/* a mode that conf.c never produces */
	c.tpm_tcti = (char *)m2m_swtpm_tcti(g_tpm);
	c.tpm_mode = (enum m2m_tpm_mode)7;
	assert_int_equal(OPS.open(&c, &impl, err, sizeof(err)),
	    M2M_ERR_CONFIG);
	assert_ptr_equal(impl, SENTINEL);
	c.tpm_mode = M2M_TPM_MODE_AUTO;

	/* a primary handle outside the owner persistent range */
	c.tpm_tcti = (char *)m2m_swtpm_tcti(g_tpm);
	c.tpm_primary_handle = 0x80000001UL;
	assert_int_equal(OPS.open(&c, &impl, err, sizeof(err)),
	    M2M_ERR_CONFIG);
	assert_ptr_equal(impl, SENTINEL);
	OPS.close(NULL);
}

/* Handles of type ht in the TPM now, seen from another connection. */
static unsigned
handles_of(TPM2_HT ht)
{
	TSS2_TCTI_CONTEXT *tcti = NULL;
	ESYS_CONTEXT *e = side_open(&tcti);
	TPMS_CAPABILITY_DATA *cap = NULL;
	TPMI_YES_NO more;
	unsigned n;

	assert_int_equal(Esys_GetCapability(e, ESYS_TR_NONE, ESYS_TR_NONE,
	    ESYS_TR_NONE, TPM2_CAP_HANDLES,
	    /* not TPM2_HR_TRANSIENT: its int shift overflows (UBSan) */
	    (UINT32)ht << TPM2_HR_SHIFT,
	    TPM2_MAX_CAP_HANDLES, &more, &cap), TSS2_RC_SUCCESS);
	n = cap->data.handles.count;
	Esys_Free(cap);
	side_close(e, tcti);
	return n;
}

/* Transient objects loaded in the TPM now. */
static unsigned
transient_loaded(void)
{
	return handles_of(TPM2_HT_TRANSIENT);
}

/* Sessions in the TPM now, loaded and saved. */
static void
sessions(unsigned *loaded, unsigned *saved)
{
	*loaded = handles_of(TPM2_HT_LOADED_SESSION);
	*saved = handles_of(TPM2_HT_SAVED_SESSION);
}

/*
 * [tpm] mode is honoured on swtpm, whose TCTI alone would choose shared:
 * auto and shared hold nothing in the TPM between calls, not even a saved
 * session (a cached HMAC is 7 commands: each call starts its session),
 * exclusive keeps the primary, the key and the session loaded (1 command).  Closing leaves nothing behind, a
 * saved session neither: 40 opens and closes would otherwise exhaust
 * swtpm's active sessions.
 */
static void
test_mode_honoured(void **state)
{
	static const struct {
		enum m2m_tpm_mode	 mode;
		const char		*name;
		unsigned long		 cmds;	/* a cached HMAC */
		unsigned		 loaded; /* objects loaded after it */
		unsigned		 sloaded, ssaved; /* sessions */
	} cases[] = {
		{ M2M_TPM_MODE_AUTO, "auto", 7, 0, 0, 0 },
		{ M2M_TPM_MODE_SHARED, "shared", 7, 0, 0, 0 },
		{ M2M_TPM_MODE_EXCLUSIVE, "exclusive", 1, 2, 1, 0 },
	};
	uint8_t key[32], msg[64], out[32], want[32];
	struct m2m_backend_stats s0, s1;
	struct m2m_keyref ref;
	unsigned sl, ss, j;
	void *be;
	size_t i;

	(void)state;
	rnd(key, sizeof(key));
	rnd(msg, sizeof(msg));
	ossl_hmac(M2M_HASH_SHA256, key, 32, msg, sizeof(msg), want);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(transient_loaded(), 0);
		g_mode = cases[i].mode;
		be = be_open(64, 0);
		wrap_ok(be, M2M_KIND_HMAC, key, 32, &ref, 77);
		assert_int_equal(OPS.hmac(be, &ref, M2M_HASH_SHA256, msg,
		    sizeof(msg), out), 0);
		OPS.stats(be, &s0);
		assert_int_equal(OPS.hmac(be, &ref, M2M_HASH_SHA256, msg,
		    sizeof(msg), out), 0);
		OPS.stats(be, &s1);
		assert_memory_equal(out, want, 32);
		print_message("mode = %s: cached HMAC: %lu command(s), %u "
		    "object(s) left loaded\n", cases[i].name,
		    s1.commands - s0.commands, transient_loaded());
		assert_int_equal(s1.commands - s0.commands, cases[i].cmds);
		assert_int_equal(transient_loaded(), cases[i].loaded);
		sessions(&sl, &ss);
		assert_int_equal(sl, cases[i].sloaded);
		assert_int_equal(ss, cases[i].ssaved);
		OPS.close(be);
		sessions(&sl, &ss);
		assert_int_equal(sl + ss, 0);
		for (j = 0; j < 40; j++) {
			be = be_open(64, 0);
			assert_int_equal(OPS.hmac(be, &ref, M2M_HASH_SHA256,
			    msg, sizeof(msg), out), 0);
			OPS.close(be);
		}
		sessions(&sl, &ss);
		assert_int_equal(sl + ss, 0);
		ref_free(&ref);
	}
	assert_int_equal(transient_loaded(), 0);	/* close flushed all */
	g_mode = M2M_TPM_MODE_AUTO;
}

/* ---- HMAC --------------------------------------------------------------- */

struct rfc4231 {
	const char *key;	/* hex */
	const char *data;	/* hex */
	const char *sha256;
	const char *sha512;
};

#define AA131 \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
	"aaaaaa"

static const struct rfc4231 rfc4231[] = {
	{ /* 1 */
	  "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
	  "4869205468657265",
	  "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
	  "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde"
	  "daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854" },
	{ /* 2 */
	  "4a656665",
	  "7768617420646f2079612077616e7420666f72206e6f7468696e673f",
	  "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
	  "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
	  "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737" },
	{ /* 3 */
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	  "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
	  "dddddddddddddddddddddddddddddddddddd",
	  "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
	  "fa73b0089d56a284efb0f0756c890be9b1b5dbdd8ee81a3655f83e33b2279d39"
	  "bf3e848279a722c806b485a47e67c807b946a337bee8942674278859e13292fb" },
	{ /* 4 */
	  "0102030405060708090a0b0c0d0e0f10111213141516171819",
	  "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"
	  "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd",
	  "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
	  "b0ba465637458c6990e5a8c5f61d4af7e576d97ff94b872de76f8050361ee3db"
	  "a91ca5c11aa25eb4d679275cc5788063a5f19741120c4f2de2adebeb10a298dd" },
	{ /* 6 */
	  AA131,
	  "54657374205573696e67204c6172676572205468616e20426c6f636b2d53697a"
	  "65204b6579202d2048617368204b6579204669727374",
	  "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
	  "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f352"
	  "6b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598" },
	{ /* 7 */
	  AA131,
	  "5468697320697320612074657374207573696e672061206c6172676572207468"
	  "616e20626c6f636b2d73697a65206b657920616e642061206c61726765722074"
	  "68616e20626c6f636b2d73697a6520646174612e20546865206b6579206e6565"
	  "647320746f20626520686173686564206265666f7265206265696e6720757365"
	  "642062792074686520484d414320616c676f726974686d2e",
	  "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
	  "e37b6a775dc87dbaa4dfa9f96e5e3ffddebd71f8867289865df5a32d20cdc944"
	  "b6022cac3c4982b10d5eeb55c3e4de15134676fb6de0446065c97440fa8c6a58" },
};

/*
 * RFC 4231 cases 1-4, 6, 7 through wrap + hmac.  Keys 6 and 7 are 131 bytes,
 * over M2M_KEY_MAX: wrap refuses them (KEY_SIZE, nothing written), and they
 * go in as H(K), which RFC 2104 section 2 makes the same HMAC key.
 */
static void
test_hmac_rfc4231(void **state)
{
	void *be = *state;
	uint8_t key[200], data[300], want[64], out[64], hk[64];
	size_t klen, dlen, wlen, i, j;
	uint8_t *blob = SENTINEL;
	size_t bloblen = 777;
	struct m2m_keyref ref;
	enum m2m_hash h;
	unsigned int hl;

	for (i = 0; i < sizeof(rfc4231) / sizeof(rfc4231[0]); i++) {
		hex2bin(rfc4231[i].key, key, &klen);
		hex2bin(rfc4231[i].data, data, &dlen);
		for (j = 0; j < 2; j++) {
			h = j == 0 ? M2M_HASH_SHA256 : M2M_HASH_SHA512;
			hex2bin(j == 0 ? rfc4231[i].sha256 :
			    rfc4231[i].sha512, want, &wlen);
			if (klen > M2M_KEY_MAX) {
				assert_int_equal(klen, 131);
				assert_int_equal(OPS.wrap(be, M2M_KIND_HMAC,
				    key, klen, &blob, &bloblen),
				    M2M_ERR_KEY_SIZE);
				assert_ptr_equal(blob, SENTINEL);
				assert_int_equal(bloblen, 777);
				assert_int_equal(EVP_Digest(key, klen, hk,
				    &hl, md_of(h), NULL), 1);
				wrap_ok(be, M2M_KIND_HMAC, hk, hl, &ref,
				    100 + i);
			} else
				wrap_ok(be, M2M_KIND_HMAC, key, klen, &ref,
				    100 + i);
			memset(out, 0, sizeof(out));
			assert_int_equal(OPS.hmac(be, &ref, h, data, dlen,
			    out), 0);
			assert_memory_equal(out, want, wlen);
			ref_free(&ref);
		}
	}
}

/* oneM2M example (onem2m-keys.md section 7): Kpsa = HMAC-SHA-256(Ke, label ||
 * Enrolee-B-ID), then Ke2e_master = HMAC-SHA-256(32 zero bytes, Kpsa) through
 * hmac_keymsg. */
static void
test_onem2m_example(void **state)
{
	void *be = *state;
	static const char label[] = "oneM2M Enrolment Key to Provisioned "
	    "Secure Connection Key derivation/in-cse.example.com/CAE01";
	uint8_t ke[32], kpsa[32], want[32], out[64], salt[32];
	size_t n;
	struct m2m_keyref keref, kpsaref;

	hex2bin("101112131415161718191a1b1c1d1e1f"
	    "202122232425262728292a2b2c2d2e2f", ke, &n);
	wrap_ok(be, M2M_KIND_HMAC, ke, sizeof(ke), &keref, 1);
	assert_int_equal(OPS.hmac(be, &keref, M2M_HASH_SHA256,
	    (const uint8_t *)label, strlen(label), kpsa), 0);
	hex2bin("d7f399f9aa3564b7b941a888084dc114"
	    "9823cef8ff2d6630845bd4e6fbccf254", want, &n);
	assert_memory_equal(kpsa, want, 32);

	wrap_ok(be, M2M_KIND_HMAC, kpsa, sizeof(kpsa), &kpsaref, 2);
	memset(salt, 0, sizeof(salt));
	memset(out, 0, sizeof(out));
	assert_int_equal(OPS.hmac_keymsg(be, salt, sizeof(salt), &kpsaref,
	    M2M_HASH_SHA256, out), 0);
	hex2bin("6da6d479ba01d00cf3136790bd11074c"
	    "a3a83298a89d33adc691b5e9e519644a", want, &n);
	assert_memory_equal(out, want, 32);
	m2m_wipe(kpsa, sizeof(kpsa));
	ref_free(&keref);
	ref_free(&kpsaref);
}

/* Random keys and messages of every interesting length against OpenSSL,
 * including 5000 bytes (HMAC sequence); all three hashes. */
static void
test_hmac_vs_openssl(void **state)
{
	void *be = *state;
	static const size_t lens[] = { 0, 1, 63, 64, 1023, 1024, 1025, 2048,
	    5000 };
	static const size_t klens[] = { 1, 20, 32, 64, 100, 128 };
	uint8_t key[128], *msg, out[64], want[64];
	struct m2m_backend_stats s0, s1;
	struct m2m_keyref ref;
	size_t i, k;
	int h;

	assert_non_null(msg = malloc(5000));
	rnd(msg, 5000);
	for (k = 0; k < sizeof(klens) / sizeof(klens[0]); k++) {
		rnd(key, klens[k]);
		wrap_ok(be, M2M_KIND_HMAC, key, klens[k], &ref, 0);
		for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
			for (h = M2M_HASH_SHA256; h <= M2M_HASH_SHA512; h++) {
				if (lens[i] != 5000 && klens[k] != 32 &&
				    h != M2M_HASH_SHA256)
					continue;	/* keep it short */
				ossl_hmac(h, key, klens[k], msg, lens[i],
				    want);
				memset(out, 0, sizeof(out));
				assert_int_equal(OPS.hmac(be, &ref, h, msg,
				    lens[i], out), 0);
				assert_memory_equal(out, want,
				    m2m_hash_len(h));
			}
		}
		ref_free(&ref);
	}
	/*
	 * 5000 bytes take the sequence: Start + 4 Updates + Complete; shared
	 * mode adds ContextLoad (primary, key), StartAuthSession and Flush
	 * (key, primary, session).
	 */
	rnd(key, 32);
	wrap_ok(be, M2M_KIND_HMAC, key, 32, &ref, 9);
	assert_int_equal(OPS.hmac(be, &ref, M2M_HASH_SHA256, msg, 10, out), 0);
	OPS.stats(be, &s0);
	assert_int_equal(OPS.hmac(be, &ref, M2M_HASH_SHA256, msg, 5000, out),
	    0);
	OPS.stats(be, &s1);
	assert_int_equal(s1.commands - s0.commands, g_shared ? 12 : 6);
	ossl_hmac(M2M_HASH_SHA256, key, 32, msg, 5000, want);
	assert_memory_equal(out, want, 32);
	ref_free(&ref);
	free(msg);
}

static size_t
be16(const uint8_t *p)
{
	return ((size_t)p[0] << 8) | p[1];
}

/* Wrong kinds, bad arguments and malformed blobs: exact errors, out
 * untouched, never a crash. */
static void
test_hmac_errors(void **state)
{
	void *be = *state;
	uint8_t key[32], out[64], ref_out[64], *bad, aes[32];
	struct m2m_keyref ref, aref, b;
	size_t i, privoff, privend, first_end;
	int r;

	rnd(key, sizeof(key));
	rnd(aes, sizeof(aes));
	wrap_ok(be, M2M_KIND_HMAC, key, sizeof(key), &ref, 0);
	wrap_ok(be, M2M_KIND_AES, aes, sizeof(aes), &aref, 0);
	memset(ref_out, 0xa5, sizeof(ref_out));
	memcpy(out, ref_out, sizeof(out));

	/* wrong kinds */
	b = ref;
	b.kind = M2M_KIND_AES;
	assert_int_equal(OPS.hmac(be, &b, M2M_HASH_SHA256, key, 3, out),
	    M2M_ERR_KEY_TYPE);
	b = aref;
	b.kind = M2M_KIND_HMAC;	/* an AES blob presented as HMAC */
	assert_int_equal(OPS.hmac(be, &b, M2M_HASH_SHA256, key, 3, out),
	    M2M_ERR_KEY_TYPE);
	assert_int_equal(OPS.hmac(be, &aref, M2M_HASH_SHA256, key, 3, out),
	    M2M_ERR_KEY_TYPE);
	/* bad arguments */
	assert_int_equal(OPS.hmac(be, &ref, (enum m2m_hash)9, key, 3, out),
	    M2M_ERR_MECHANISM);
	assert_int_equal(OPS.hmac(be, &ref, M2M_HASH_SHA256, NULL, 3, out),
	    M2M_ERR_INVALID_ARGUMENT);
	assert_int_equal(OPS.hmac(be, NULL, M2M_HASH_SHA256, key, 3, out),
	    M2M_ERR_INVALID_ARGUMENT);
	assert_int_equal(OPS.wrap(be, M2M_KIND_HMAC, key, 0, &bad, &i),
	    M2M_ERR_KEY_SIZE);
	assert_int_equal(OPS.wrap(be, M2M_KIND_AES, key, 20, &bad, &i),
	    M2M_ERR_KEY_SIZE);
	assert_int_equal(OPS.wrap(be, (enum m2m_key_kind)7, key, 16, &bad,
	    &i), M2M_ERR_INVALID_ARGUMENT);
	assert_memory_equal(out, ref_out, sizeof(out));

	/* every truncation, and one byte too many */
	assert_non_null(bad = malloc(ref.bloblen + 1));
	memcpy(bad, ref.blob, ref.bloblen);
	bad[ref.bloblen] = 0;
	b = ref;
	b.blob = bad;
	for (i = 0; i <= ref.bloblen + 1; i++) {
		if (i == ref.bloblen)
			continue;
		b.bloblen = i;
		assert_int_equal(OPS.hmac(be, &b, M2M_HASH_SHA256, key, 3,
		    out), M2M_ERR_DATA_INVALID);
	}
	b.blob = NULL;
	b.bloblen = 0;
	assert_int_equal(OPS.hmac(be, &b, M2M_HASH_SHA256, key, 3, out),
	    M2M_ERR_DATA_INVALID);
	b.bloblen = M2M_BLOB_MAX + 1;
	b.blob = bad;
	assert_int_equal(OPS.hmac(be, &b, M2M_HASH_SHA256, key, 3, out),
	    M2M_ERR_DATA_INVALID);
	assert_memory_equal(out, ref_out, sizeof(out));

	/* header fields: magic, version, kind, flags, reserved */
	b.bloblen = ref.bloblen;
	for (i = 0; i < 8; i++) {
		bad[i] ^= 0x40;
		r = OPS.hmac(be, &b, M2M_HASH_SHA256, key, 3, out);
		assert_int_equal(r, M2M_ERR_DATA_INVALID);
		bad[i] ^= 0x40;
	}
	/* kind byte says AES but the object is a keyedHash */
	bad[5] = M2M_KIND_AES;
	b.kind = M2M_KIND_AES;
	assert_int_equal(OPS.aes_gcm(be, &b, 1, key, 12, NULL, 0, 16, key, 4,
	    out, &i), M2M_ERR_DATA_INVALID);
	bad[5] = M2M_KIND_HMAC;
	b.kind = M2M_KIND_HMAC;
	assert_memory_equal(out, ref_out, sizeof(out));

	/*
	 * Flip each byte of the first object (public and private): the
	 * parser or the TPM's integrity check refuses, never a success.
	 */
	privoff = 8 + 2 + be16(ref.blob + 8);
	privend = privoff + 2 + be16(ref.blob + privoff);
	first_end = privend;
	for (i = 8; i < first_end; i++) {
		bad[i] ^= 0x01;
		r = OPS.hmac(be, &b, M2M_HASH_SHA256, key, 3, out);
		if (r != M2M_ERR_DATA_INVALID && r != M2M_ERR_BACKEND)
			print_error("flip at %zu of %zu: %d\n", i,
			    first_end, r);
		assert_true(r == M2M_ERR_DATA_INVALID || r == M2M_ERR_BACKEND);
		bad[i] ^= 0x01;
	}
	/* the encrypted sensitive area: the TPM's integrity check */
	bad[privend - 1] ^= 0x80;
	assert_int_equal(OPS.hmac(be, &b, M2M_HASH_SHA256, key, 3, out),
	    M2M_ERR_BACKEND);
	bad[privend - 1] ^= 0x80;
	assert_memory_equal(out, ref_out, sizeof(out));
	/* restored: works */
	assert_int_equal(OPS.hmac(be, &b, M2M_HASH_SHA256, key, 3, out), 0);

	/* garbage */
	rnd(bad, ref.bloblen);
	assert_int_equal(OPS.hmac(be, &b, M2M_HASH_SHA256, key, 3, ref_out),
	    M2M_ERR_DATA_INVALID);
	free(bad);
	ref_free(&ref);
	ref_free(&aref);
}

/*
 * HMAC_Start's response fails in the module after the TPM made the
 * sequence (tests/CMakeLists.txt links this test with
 * --wrap=Tss2_Sys_HMAC_Start_Complete): the call fails and the sequence
 * object is flushed, not left in one of the TPM's few transient slots.
 */
static int g_fail_hmac_start;	/* fail the next HMAC_Start response */

TSS2_RC	__real_Tss2_Sys_HMAC_Start_Complete(TSS2_SYS_CONTEXT *,
	    TPMI_DH_OBJECT *);
/* default visibility: libtss2-esys.so names the wrapped symbol too */
TSS2_RC	__wrap_Tss2_Sys_HMAC_Start_Complete(TSS2_SYS_CONTEXT *,
	    TPMI_DH_OBJECT *) __attribute__((visibility("default")));

TSS2_RC
__wrap_Tss2_Sys_HMAC_Start_Complete(TSS2_SYS_CONTEXT *sys,
    TPMI_DH_OBJECT *h)
{
	TSS2_RC rc = __real_Tss2_Sys_HMAC_Start_Complete(sys, h);

	if (rc == TSS2_RC_SUCCESS && g_fail_hmac_start) {
		g_fail_hmac_start = 0;
		return TSS2_SYS_RC_MALFORMED_RESPONSE;	/* handle set */
	}
	return rc;
}

static void
test_hmac_seq_leak(void **state)
{
	void *be = *state;
	static uint8_t msg[5000];	/* longer than a TPM buffer */
	uint8_t key[32], out[32], want[32];
	struct m2m_keyref ref;
	unsigned before;

	rnd(key, sizeof(key));
	rnd(msg, sizeof(msg));
	wrap_ok(be, M2M_KIND_HMAC, key, sizeof(key), &ref, 0);
	/* a sequence that works: the key is cached (exclusive mode) */
	assert_int_equal(OPS.hmac(be, &ref, M2M_HASH_SHA256, msg,
	    sizeof(msg), out), 0);
	ossl_hmac(M2M_HASH_SHA256, key, sizeof(key), msg, sizeof(msg), want);
	assert_memory_equal(out, want, sizeof(want));
	before = transient_loaded();
	g_fail_hmac_start = 1;
	assert_int_not_equal(OPS.hmac(be, &ref, M2M_HASH_SHA256, msg,
	    sizeof(msg), out), 0);
	assert_int_equal(g_fail_hmac_start, 0);	/* it did fail there */
	assert_int_equal(transient_loaded(), before);
	/* and the next one works */
	memset(out, 0, sizeof(out));
	assert_int_equal(OPS.hmac(be, &ref, M2M_HASH_SHA256, msg,
	    sizeof(msg), out), 0);
	assert_memory_equal(out, want, sizeof(want));
	ref_free(&ref);
}

/* ---- AES-GCM ------------------------------------------------------------ */

/* McGrew & Viega, "The Galois/Counter Mode of Operation", test cases 13, 14
 * and 16 (AES-256). */
static void
test_gcm_kat(void **state)
{
	void *be = *state;
	uint8_t key[32], iv[12], p[64], a[20], want[80], out[80], back[64];
	size_t n, plen, alen, wlen, outlen;
	struct m2m_keyref ref;

	memset(key, 0, sizeof(key));
	memset(iv, 0, sizeof(iv));
	wrap_ok(be, M2M_KIND_AES, key, 32, &ref, 0);
	/* 13: empty plaintext */
	hex2bin("530f8afbc74536b9a963b4f1c4cb738b", want, &wlen);
	assert_int_equal(OPS.aes_gcm(be, &ref, 1, iv, 12, NULL, 0, 16, NULL,
	    0, out, &outlen), 0);
	assert_int_equal(outlen, 16);
	assert_memory_equal(out, want, 16);
	/* 14: one zero block */
	memset(p, 0, 16);
	hex2bin("cea7403d4d606b6e074ec5d3baf39d18"
	    "d0d1c8a799996bf0265b98b5d48ab919", want, &wlen);
	assert_int_equal(OPS.aes_gcm(be, &ref, 1, iv, 12, NULL, 0, 16, p,
	    16, out, &outlen), 0);
	assert_int_equal(outlen, 32);
	assert_memory_equal(out, want, 32);
	ref_free(&ref);

	/* 16: 60 bytes with 20 bytes of AAD */
	hex2bin("feffe9928665731c6d6a8f9467308308"
	    "feffe9928665731c6d6a8f9467308308", key, &n);
	hex2bin("cafebabefacedbaddecaf888", iv, &n);
	hex2bin("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d"
	    "8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657"
	    "ba637b39", p, &plen);
	hex2bin("feedfacedeadbeeffeedfacedeadbeefabaddad2", a, &alen);
	hex2bin("522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd"
	    "2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0a"
	    "bcc9f662" "76fc6ece0f4e1768cddf8853bb2d551b", want, &wlen);
	wrap_ok(be, M2M_KIND_AES, key, 32, &ref, 0);
	assert_int_equal(OPS.aes_gcm(be, &ref, 1, iv, 12, a, alen, 16, p,
	    plen, out, &outlen), 0);
	assert_int_equal(outlen, wlen);
	assert_memory_equal(out, want, wlen);
	assert_int_equal(OPS.aes_gcm(be, &ref, 0, iv, 12, a, alen, 16, want,
	    wlen, back, &outlen), 0);
	assert_int_equal(outlen, plen);
	assert_memory_equal(back, p, plen);
	ref_free(&ref);
}

/* Random inputs against OpenSSL's EVP AES-GCM: lengths 0, 1, 15, 16, 17,
 * 1000 and 3000 (several TPM calls), with and without AAD, tags of 12 and
 * 16 bytes, 96-bit and other IV lengths (OpenSSL takes at most 128 bytes),
 * AES-128 and AES-256. */
static void
test_gcm_vs_openssl(void **state)
{
	void *be = *state;
	static const size_t lens[] = { 0, 1, 15, 16, 17, 1000, 3000 };
	static const size_t ivlens[] = { 12, 1, 16, 60, 128 };
	static const size_t klens[] = { 16, 32 };
	uint8_t key[32], iv[256], aad[40], *p, *want, *out, *back;
	struct m2m_keyref ref;
	size_t kl, li, ai, ti, vi, taglen, aadlen, outlen;

	assert_non_null(p = malloc(3000));
	assert_non_null(want = malloc(3016));
	assert_non_null(out = malloc(3016));
	assert_non_null(back = malloc(3000));
	for (kl = 0; kl < 2; kl++) {
		rnd(key, klens[kl]);
		wrap_ok(be, M2M_KIND_AES, key, klens[kl], &ref, 40 + kl);
		for (li = 0; li < sizeof(lens) / sizeof(lens[0]); li++)
		for (ai = 0; ai < 2; ai++)
		for (ti = 0; ti < 2; ti++) {
			taglen = ti ? 16 : 12;
			aadlen = ai ? sizeof(aad) : 0;
			vi = (li + ai + ti) % (sizeof(ivlens) /
			    sizeof(ivlens[0]));
			rnd(p, lens[li]);
			rnd(aad, sizeof(aad));
			rnd(iv, ivlens[vi]);
			ossl_gcm(1, key, klens[kl], iv, ivlens[vi], aad,
			    aadlen, p, lens[li], taglen, want);
			assert_int_equal(OPS.aes_gcm(be, &ref, 1, iv,
			    ivlens[vi], ai ? aad : NULL, aadlen, taglen, p,
			    lens[li], out, &outlen), 0);
			assert_int_equal(outlen, lens[li] + taglen);
			assert_memory_equal(out, want, outlen);
			/* and back, from OpenSSL's ciphertext */
			assert_int_equal(OPS.aes_gcm(be, &ref, 0, iv,
			    ivlens[vi], ai ? aad : NULL, aadlen, taglen, want,
			    lens[li] + taglen, back, &outlen), 0);
			assert_int_equal(outlen, lens[li]);
			if (lens[li] > 0)
				assert_memory_equal(back, p, lens[li]);
		}
		ref_free(&ref);
	}
	/* a 256-byte IV (beyond OpenSSL's limit): round trip and a tamper */
	rnd(key, 32);
	rnd(iv, sizeof(iv));
	rnd(p, 100);
	wrap_ok(be, M2M_KIND_AES, key, 32, &ref, 0);
	assert_int_equal(OPS.aes_gcm(be, &ref, 1, iv, 256, NULL, 0, 16, p,
	    100, out, &outlen), 0);
	assert_int_equal(OPS.aes_gcm(be, &ref, 0, iv, 256, NULL, 0, 16, out,
	    116, back, &outlen), 0);
	assert_int_equal(outlen, 100);
	assert_memory_equal(back, p, 100);
	iv[200] ^= 1;
	assert_int_equal(OPS.aes_gcm(be, &ref, 0, iv, 256, NULL, 0, 16, out,
	    116, back, &outlen), M2M_ERR_ENCRYPTED_DATA_INVALID);
	ref_free(&ref);
	free(p);
	free(want);
	free(out);
	free(back);
}

/* A bad tag, ciphertext, AAD or IV: ENCRYPTED_DATA_INVALID, nothing written.
 * Bad parameters: exact errors. */
static void
test_gcm_tamper(void **state)
{
	void *be = *state;
	uint8_t key[32], iv[12], aad[16], p[100], ct[116], out[116];
	uint8_t ref_out[116];
	struct m2m_keyref ref, href;
	size_t outlen, sentinel = 4242, i;
	static const size_t flips[] = { 0, 50, 99, 100, 115 };

	rnd(key, 32);
	rnd(iv, 12);
	rnd(aad, 16);
	rnd(p, 100);
	wrap_ok(be, M2M_KIND_AES, key, 32, &ref, 0);
	assert_int_equal(OPS.aes_gcm(be, &ref, 1, iv, 12, aad, 16, 16, p, 100,
	    ct, &outlen), 0);
	memset(ref_out, 0x3c, sizeof(ref_out));
	memcpy(out, ref_out, sizeof(out));
	for (i = 0; i < sizeof(flips) / sizeof(flips[0]); i++) {
		ct[flips[i]] ^= 0x01;
		outlen = sentinel;
		assert_int_equal(OPS.aes_gcm(be, &ref, 0, iv, 12, aad, 16, 16,
		    ct, 116, out, &outlen), M2M_ERR_ENCRYPTED_DATA_INVALID);
		assert_int_equal(outlen, sentinel);
		assert_memory_equal(out, ref_out, sizeof(out));
		ct[flips[i]] ^= 0x01;
	}
	aad[3] ^= 1;
	assert_int_equal(OPS.aes_gcm(be, &ref, 0, iv, 12, aad, 16, 16, ct,
	    116, out, &outlen), M2M_ERR_ENCRYPTED_DATA_INVALID);
	aad[3] ^= 1;
	iv[11] ^= 1;
	assert_int_equal(OPS.aes_gcm(be, &ref, 0, iv, 12, aad, 16, 16, ct,
	    116, out, &outlen), M2M_ERR_ENCRYPTED_DATA_INVALID);
	iv[11] ^= 1;
	/* truncated tag (12 of 16 bytes verified) with the tail dropped */
	assert_int_equal(OPS.aes_gcm(be, &ref, 0, iv, 12, aad, 16, 12, ct,
	    112, out, &outlen), 0);
	assert_memory_equal(out, p, 100);
	memcpy(out, ref_out, sizeof(out));
	outlen = sentinel;
	/* parameters */
	assert_int_equal(OPS.aes_gcm(be, &ref, 1, iv, 12, NULL, 0, 3, p, 10,
	    out, &outlen), M2M_ERR_MECHANISM_PARAM);
	assert_int_equal(OPS.aes_gcm(be, &ref, 1, iv, 12, NULL, 0, 17, p, 10,
	    out, &outlen), M2M_ERR_MECHANISM_PARAM);
	assert_int_equal(OPS.aes_gcm(be, &ref, 1, iv, 0, NULL, 0, 16, p, 10,
	    out, &outlen), M2M_ERR_MECHANISM_PARAM);
	assert_int_equal(OPS.aes_gcm(be, &ref, 1, iv, 257, NULL, 0, 16, p, 10,
	    out, &outlen), M2M_ERR_MECHANISM_PARAM);
	assert_int_equal(OPS.aes_gcm(be, &ref, 0, iv, 12, NULL, 0, 16, ct, 15,
	    out, &outlen), M2M_ERR_DATA_LEN);
	assert_int_equal(OPS.aes_gcm(be, &ref, 1, iv, 12, NULL, 0, 16, p,
	    (1u << 20) + 1, out, &outlen), M2M_ERR_DATA_LEN);
	/* an HMAC key for AES-GCM */
	wrap_ok(be, M2M_KIND_HMAC, key, 32, &href, 0);
	assert_int_equal(OPS.aes_gcm(be, &href, 1, iv, 12, NULL, 0, 16, p, 10,
	    out, &outlen), M2M_ERR_KEY_TYPE);
	href.kind = M2M_KIND_AES;
	assert_int_equal(OPS.aes_gcm(be, &href, 1, iv, 12, NULL, 0, 16, p, 10,
	    out, &outlen), M2M_ERR_KEY_TYPE);
	assert_int_equal(outlen, sentinel);
	assert_memory_equal(out, ref_out, sizeof(out));
	ref_free(&ref);
	ref_free(&href);
}

/* AES-192: libtpms 0.9 has no 192-bit AES; the TPM's refusal must come back
 * as KEY_SIZE with nothing written.  Where the TPM has it, it must agree
 * with OpenSSL. */
static void
test_gcm_aes192(void **state)
{
	void *be = *state;
	uint8_t key[24], iv[12], p[33], want[49], out[49];
	uint8_t *blob = SENTINEL;
	size_t bloblen = 99, outlen;
	struct m2m_keyref ref;
	TPMT_PUBLIC_PARMS parms;
	TSS2_TCTI_CONTEXT *tcti = NULL;
	ESYS_CONTEXT *e;
	int have192, r;

	/* ask the TPM itself */
	OPS.close(be);
	e = side_open(&tcti);
	memset(&parms, 0, sizeof(parms));
	parms.type = TPM2_ALG_SYMCIPHER;
	parms.parameters.symDetail.sym.algorithm = TPM2_ALG_AES;
	parms.parameters.symDetail.sym.keyBits.aes = 192;
	parms.parameters.symDetail.sym.mode.aes = TPM2_ALG_CFB;
	have192 = Esys_TestParms(e, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
	    &parms) == TSS2_RC_SUCCESS;
	side_close(e, tcti);
	*state = be = be_open(64, 0);

	rnd(key, 24);
	rnd(iv, 12);
	rnd(p, 33);
	r = OPS.wrap(be, M2M_KIND_AES, key, 24, &blob, &bloblen);
	print_message("AES-192 in this TPM: %s\n", have192 ? "yes" : "no");
	if (!have192) {
		assert_int_equal(r, M2M_ERR_KEY_SIZE);
		assert_ptr_equal(blob, SENTINEL);
		assert_int_equal(bloblen, 99);
		return;
	}
	assert_int_equal(r, 0);
	memset(&ref, 0, sizeof(ref));
	ref.kind = M2M_KIND_AES;
	ref.blob = blob;
	ref.bloblen = bloblen;
	ossl_gcm(1, key, 24, iv, 12, NULL, 0, p, 33, 16, want);
	assert_int_equal(OPS.aes_gcm(be, &ref, 1, iv, 12, NULL, 0, 16, p, 33,
	    out, &outlen), 0);
	assert_memory_equal(out, want, 49);
	ref_free(&ref);
}

/*
 * Level T, as on a TPM without TPM2_EncryptDecrypt2: AES-GCM runs on the
 * host with the key unsealed from the blob's copy; results agree with
 * OpenSSL, a bad tag writes nothing, and both levels read the same blobs.
 */
static void
test_gcm_level_t(void **state)
{
	void *be = *state;
	static const size_t lens[] = { 0, 1, 17, 1000 };
	uint8_t key[32], hkey[16], iv[256], aad[9], p[1000], want[1016];
	uint8_t out[1016], ref_out[1016];
	struct m2m_keyref ref, href;
	struct m2m_secret *s = NULL;
	size_t i, outlen, sentinel = 5;

	rnd(hkey, 16);
	rnd(p, 10);
	rnd(iv, 12);
	wrap_ok(be, M2M_KIND_AES, hkey, 16, &href, 0);	/* made at level H */
	ossl_gcm(1, hkey, 16, iv, 12, NULL, 0, p, 10, 16, want);
	m2m_tpm_test_level_t(be);
	assert_int_equal(OPS.aes_gcm(be, &href, 1, iv, 12, NULL, 0, 16, p, 10,
	    out, &outlen), 0);
	assert_memory_equal(out, want, 26);
	rnd(key, 32);
	rnd(aad, sizeof(aad));
	wrap_ok(be, M2M_KIND_AES, key, 32, &ref, 61);
	assert_int_equal(OPS.reveal(be, &ref, &s), 0);
	assert_int_equal(m2m_secret_len(s), 32);
	assert_memory_equal(m2m_secret_data(s), key, 32);
	m2m_secret_free(s);
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		rnd(iv, 12);
		rnd(p, lens[i]);
		ossl_gcm(1, key, 32, iv, 12, aad, sizeof(aad), p, lens[i], 16,
		    want);
		assert_int_equal(OPS.aes_gcm(be, &ref, 1, iv, 12, aad,
		    sizeof(aad), 16, p, lens[i], out, &outlen), 0);
		assert_int_equal(outlen, lens[i] + 16);
		assert_memory_equal(out, want, outlen);
	}
	/* tamper: nothing written */
	memset(ref_out, 0x44, sizeof(ref_out));
	memcpy(out, ref_out, sizeof(out));
	want[3] ^= 1;
	outlen = sentinel;
	assert_int_equal(OPS.aes_gcm(be, &ref, 0, iv, 12, aad, sizeof(aad),
	    16, want, 1016, out, &outlen), M2M_ERR_ENCRYPTED_DATA_INVALID);
	assert_int_equal(outlen, sentinel);
	assert_memory_equal(out, ref_out, sizeof(out));
	want[3] ^= 1;
	assert_int_equal(OPS.aes_gcm(be, &ref, 0, iv, 12, aad, sizeof(aad),
	    16, want, 1016, out, &outlen), 0);
	assert_memory_equal(out, p, 1000);
	/* a 256-byte IV at level T, decrypted at level H below */
	rnd(iv, sizeof(iv));
	assert_int_equal(OPS.aes_gcm(be, &ref, 1, iv, 256, NULL, 0, 16, p,
	    100, want, &outlen), 0);
	/* wrong auth at level T: BACKEND_AUTH, nothing written */
	memcpy(out, ref_out, sizeof(out));
	href.auth = aad;
	href.authlen = sizeof(aad);
	outlen = sentinel;
	assert_int_equal(OPS.aes_gcm(be, &href, 1, iv, 12, NULL, 0, 16, p, 10,
	    out, &outlen), M2M_ERR_BACKEND_AUTH);
	assert_int_equal(outlen, sentinel);
	assert_memory_equal(out, ref_out, sizeof(out));
	/* the level-T blob on a TPM with EncryptDecrypt2: level H */
	OPS.close(be);
	*state = be = be_open(64, 0);
	assert_int_equal(OPS.aes_gcm(be, &ref, 0, iv, 256, NULL, 0, 16, want,
	    116, out, &outlen), 0);
	assert_int_equal(outlen, 100);
	assert_memory_equal(out, p, 100);
	ref_free(&ref);
	ref_free(&href);
}

/* ---- reveal, hmac_keymsg ------------------------------------------------ */

static void
test_keymsg_reveal(void **state)
{
	void *be = *state;
	uint8_t key[48], salt[80], out[64], want[64], aes[16];
	struct m2m_secret *s = SENTINEL_S;
	struct m2m_keyref ref, aref, b;
	int h;

	rnd(key, sizeof(key));
	rnd(salt, sizeof(salt));
	rnd(aes, sizeof(aes));
	wrap_ok(be, M2M_KIND_HMAC, key, sizeof(key), &ref, 5);
	for (h = M2M_HASH_SHA256; h <= M2M_HASH_SHA512; h++) {
		ossl_hmac(h, salt, sizeof(salt), key, sizeof(key), want);
		assert_int_equal(OPS.hmac_keymsg(be, salt, sizeof(salt), &ref,
		    h, out), 0);
		assert_memory_equal(out, want, m2m_hash_len(h));
	}
	/* an empty HMAC key */
	ossl_hmac(M2M_HASH_SHA256, NULL, 0, key, sizeof(key), want);
	assert_int_equal(OPS.hmac_keymsg(be, NULL, 0, &ref, M2M_HASH_SHA256,
	    out), 0);
	assert_memory_equal(out, want, 32);
	/* reveal of an HMAC key: its bytes */
	assert_int_equal(OPS.reveal(be, &ref, &s), 0);
	assert_int_equal(m2m_secret_len(s), sizeof(key));
	assert_memory_equal(m2m_secret_data(s), key, sizeof(key));
	m2m_secret_free(s);

	/* AES keys too (level T, for extractable role-less keys) */
	wrap_ok(be, M2M_KIND_AES, aes, sizeof(aes), &aref, 6);
	assert_int_equal(OPS.reveal(be, &aref, &s), 0);
	assert_int_equal(m2m_secret_len(s), sizeof(aes));
	assert_memory_equal(m2m_secret_data(s), aes, sizeof(aes));
	m2m_secret_free(s);
	/* wrong kind in the keyref, a PIN blob: refused, nothing returned */
	s = SENTINEL_S;
	b = aref;
	b.kind = M2M_KIND_HMAC;
	assert_int_equal(OPS.reveal(be, &b, &s), M2M_ERR_KEY_TYPE);
	assert_ptr_equal(s, SENTINEL_S);
	memset(out, 0x11, sizeof(out));
	assert_int_equal(OPS.hmac_keymsg(be, salt, 16, &aref,
	    M2M_HASH_SHA256, out), M2M_ERR_KEY_TYPE);
	b = aref;
	b.kind = M2M_KIND_HMAC;
	assert_int_equal(OPS.hmac_keymsg(be, salt, 16, &b, M2M_HASH_SHA256,
	    out), M2M_ERR_KEY_TYPE);
	assert_int_equal(OPS.hmac_keymsg(be, salt, 16, &ref,
	    (enum m2m_hash)0, out), M2M_ERR_MECHANISM);
	assert_int_equal(OPS.hmac_keymsg(be, NULL, 16, &ref, M2M_HASH_SHA256,
	    out), M2M_ERR_INVALID_ARGUMENT);
	for (h = 0; h < 64; h++)
		assert_int_equal(out[h], 0x11);
	ref_free(&ref);
	ref_free(&aref);
}

/* ---- object authorisation (wrap_auth, keyref.auth) ---------------------- */

static void
test_wrap_auth(void **state)
{
	void *be = *state;
	uint8_t key[32], auth[32], other[32], zauth[8], msg[10], out[32];
	uint8_t want[32], aes[32], iv[12], ct[26], ref_out[32];
	uint8_t *blob = NULL, d[32];
	size_t bloblen = 0, outlen, sentinel = 31;
	struct m2m_keyref ref, aref;
	unsigned int dl;
	uint32_t i;

	rnd(key, 32);
	rnd(auth, 32);
	memcpy(other, auth, 32);
	other[31] ^= 1;
	rnd(msg, 10);
	ossl_hmac(M2M_HASH_SHA256, key, 32, msg, 10, want);
	assert_int_equal(OPS.wrap_auth(be, M2M_KIND_HMAC, key, 32, auth, 32,
	    &blob, &bloblen), 0);
	memset(&ref, 0, sizeof(ref));
	ref.id = 77;
	ref.kind = M2M_KIND_HMAC;
	ref.blob = blob;
	ref.bloblen = bloblen;
	memset(ref_out, 0xee, sizeof(ref_out));
	memcpy(out, ref_out, 32);

	/* no auth, wrong auth: refused, out untouched (id 77, then 0) */
	assert_int_equal(OPS.hmac(be, &ref, M2M_HASH_SHA256, msg, 10, out),
	    M2M_ERR_BACKEND_AUTH);
	ref.auth = other;
	ref.authlen = 32;
	assert_int_equal(OPS.hmac(be, &ref, M2M_HASH_SHA256, msg, 10, out),
	    M2M_ERR_BACKEND_AUTH);
	assert_memory_equal(out, ref_out, 32);
	/* right auth */
	ref.auth = auth;
	assert_int_equal(OPS.hmac(be, &ref, M2M_HASH_SHA256, msg, 10, out), 0);
	assert_memory_equal(out, want, 32);
	/* cached now: a wrong auth must still fail (cache needs same auth) */
	ref.auth = other;
	memcpy(out, ref_out, 32);
	assert_int_equal(OPS.hmac(be, &ref, M2M_HASH_SHA256, msg, 10, out),
	    M2M_ERR_BACKEND_AUTH);
	ref.auth = NULL;
	ref.authlen = 0;
	assert_int_equal(OPS.hmac(be, &ref, M2M_HASH_SHA256, msg, 10, out),
	    M2M_ERR_BACKEND_AUTH);
	assert_memory_equal(out, ref_out, 32);
	/* the sealed copy is bound to the same auth */
	assert_int_equal(OPS.hmac_keymsg(be, msg, 10, &ref, M2M_HASH_SHA256,
	    out), M2M_ERR_BACKEND_AUTH);
	ref.auth = auth;
	ref.authlen = 32;
	assert_int_equal(OPS.hmac(be, &ref, M2M_HASH_SHA256, msg, 10, out), 0);
	assert_memory_equal(out, want, 32);
	ref.id = 0;
	assert_int_equal(OPS.hmac(be, &ref, M2M_HASH_SHA256, msg, 10, out), 0);
	assert_memory_equal(out, want, 32);
	ref_free(&ref);

	/* a key made with wrap() (no auth) refuses an auth */
	wrap_ok(be, M2M_KIND_HMAC, key, 32, &ref, 78);
	ref.auth = auth;
	ref.authlen = 32;
	assert_int_equal(OPS.hmac(be, &ref, M2M_HASH_SHA256, msg, 10, out),
	    M2M_ERR_BACKEND_AUTH);
	ref_free(&ref);

	/* an auth whose SHA-256 ends in a zero byte (the TPM strips it) */
	for (i = 0;; i++) {
		memcpy(zauth, &i, sizeof(i));
		memset(zauth + 4, 'z', 4);
		assert_int_equal(EVP_Digest(zauth, 8, d, &dl, EVP_sha256(),
		    NULL), 1);
		if (d[31] == 0)
			break;
	}
	assert_int_equal(OPS.wrap_auth(be, M2M_KIND_HMAC, key, 32, zauth, 8,
	    &blob, &bloblen), 0);
	memset(&ref, 0, sizeof(ref));
	ref.kind = M2M_KIND_HMAC;
	ref.blob = blob;
	ref.bloblen = bloblen;
	ref.auth = zauth;
	ref.authlen = 8;
	assert_int_equal(OPS.hmac(be, &ref, M2M_HASH_SHA256, msg, 10, out), 0);
	assert_memory_equal(out, want, 32);
	ref_free(&ref);

	/* AES with auth */
	rnd(aes, 32);
	rnd(iv, 12);
	assert_int_equal(OPS.wrap_auth(be, M2M_KIND_AES, aes, 32, auth, 32,
	    &blob, &bloblen), 0);
	memset(&aref, 0, sizeof(aref));
	aref.kind = M2M_KIND_AES;
	aref.blob = blob;
	aref.bloblen = bloblen;
	outlen = sentinel;
	assert_int_equal(OPS.aes_gcm(be, &aref, 1, iv, 12, NULL, 0, 16, msg,
	    10, ct, &outlen), M2M_ERR_BACKEND_AUTH);
	assert_int_equal(outlen, sentinel);
	aref.auth = auth;
	aref.authlen = 32;
	assert_int_equal(OPS.aes_gcm(be, &aref, 1, iv, 12, NULL, 0, 16, msg,
	    10, ct, &outlen), 0);
	ossl_gcm(1, aes, 32, iv, 12, NULL, 0, msg, 10, 16, want);
	assert_memory_equal(ct, want, 26);
	ref_free(&aref);
}

/* ---- ECDSA keys ---------------------------------------------------------- */

/*
 * OpenSSL's verdict on sig (r || s, PKCS#11 form) over the raw digest
 * dg[0..dlen) with the public point pt (0x04 || X || Y) of kind's curve:
 * 1 valid, 0 not.
 */
static int
ossl_ec_verify(enum m2m_key_kind kind, const uint8_t *pt, size_t ptlen,
    const uint8_t *dg, size_t dlen, const uint8_t *sig, size_t siglen)
{
	OSSL_PARAM_BLD *bld;
	OSSL_PARAM *params;
	EVP_PKEY_CTX *c;
	EVP_PKEY *pk = NULL;
	ECDSA_SIG *es;
	uint8_t der[128], *p = der;
	size_t cs = siglen / 2;
	int derlen, ok;

	assert_non_null(bld = OSSL_PARAM_BLD_new());
	assert_int_equal(OSSL_PARAM_BLD_push_utf8_string(bld,
	    OSSL_PKEY_PARAM_GROUP_NAME, kind == M2M_KIND_EC_P384 ?
	    "secp384r1" : "prime256v1", 0), 1);
	assert_int_equal(OSSL_PARAM_BLD_push_octet_string(bld,
	    OSSL_PKEY_PARAM_PUB_KEY, pt, ptlen), 1);
	assert_non_null(params = OSSL_PARAM_BLD_to_param(bld));
	assert_non_null(c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL));
	assert_int_equal(EVP_PKEY_fromdata_init(c), 1);
	assert_int_equal(EVP_PKEY_fromdata(c, &pk, EVP_PKEY_PUBLIC_KEY,
	    params), 1);
	EVP_PKEY_CTX_free(c);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);

	assert_non_null(es = ECDSA_SIG_new());
	assert_int_equal(ECDSA_SIG_set0(es, BN_bin2bn(sig, (int)cs, NULL),
	    BN_bin2bn(sig + cs, (int)cs, NULL)), 1);
	assert_true((derlen = i2d_ECDSA_SIG(es, &p)) > 0);
	ECDSA_SIG_free(es);
	assert_non_null(c = EVP_PKEY_CTX_new(pk, NULL));
	assert_int_equal(EVP_PKEY_verify_init(c), 1);
	ok = EVP_PKEY_verify(c, der, (size_t)derlen, dg, dlen);
	EVP_PKEY_CTX_free(c);
	EVP_PKEY_free(pk);
	assert_true(ok == 0 || ok == 1);
	return ok;
}

static void
ec_ref(struct m2m_keyref *ref, enum m2m_key_kind kind, uint64_t id,
    uint8_t *blob, size_t bloblen, const uint8_t *auth, size_t authlen)
{
	memset(ref, 0, sizeof(*ref));
	ref->id = id;
	ref->kind = kind;
	ref->blob = blob;
	ref->bloblen = bloblen;
	ref->auth = auth;
	ref->authlen = authlen;
}

/*
 * Sign dg with ref and check the signature with OpenSSL: valid over dg,
 * invalid over dg with one bit changed (the oracle can say no).
 */
static void
ec_sign_check(void *be, const struct m2m_keyref *ref, const uint8_t *pt,
    size_t ptlen, const uint8_t *dg, size_t dlen)
{
	uint8_t sig[M2M_EC_SIG_MAX], other[M2M_HASH_MAX_LEN];
	size_t siglen = 0, cs = ref->kind == M2M_KIND_EC_P384 ? 48 : 32;

	assert_int_equal(OPS.ec_sign(be, ref, dg, dlen, sig, &siglen), 0);
	assert_int_equal(siglen, 2 * cs);
	assert_int_equal(ossl_ec_verify(ref->kind, pt, ptlen, dg, dlen, sig,
	    siglen), 1);
	memcpy(other, dg, dlen);
	other[dlen - 1] ^= 0x01;
	if (dlen <= cs)	/* beyond: the bit is truncated away */
		assert_int_equal(ossl_ec_verify(ref->kind, pt, ptlen, other,
		    dlen, sig, siglen), 0);
}

/*
 * Generate P-256 and P-384 keys (with and without auth), sign digests of
 * every size CKM_ECDSA meets (SHA-1 to SHA-512, 1 byte, the 64-byte
 * maximum), each signature verified by OpenSSL with the returned point;
 * cached (id) and uncached (id 0).  Run in both [tpm] modes.
 */
static void
test_ec_sign(void **state)
{
	void *be = *state;
	static const size_t lens[] = { 1, 20, 28, 32, 48, 64 };
	static const enum m2m_key_kind kinds[] = { M2M_KIND_EC_P256,
	    M2M_KIND_EC_P384 };
	uint8_t pt[M2M_EC_POINT_MAX], pt2[M2M_EC_POINT_MAX], auth[32];
	uint8_t dg[M2M_HASH_MAX_LEN], *blob = NULL, *blob2 = NULL;
	size_t ptlen = 0, pt2len = 0, bloblen = 0, bloblen2 = 0, i, k;
	struct m2m_keyref ref;

	rnd(auth, sizeof(auth));
	for (k = 0; k < 2; k++) {
		size_t cs = kinds[k] == M2M_KIND_EC_P384 ? 48 : 32;

		assert_int_equal(OPS.ec_generate(be, kinds[k], auth, 32,
		    &blob, &bloblen, pt, &ptlen), 0);
		assert_int_equal(ptlen, 1 + 2 * cs);
		assert_int_equal(pt[0], 0x04);
		assert_true(bloblen > 8 && bloblen <= M2M_BLOB_MAX);
		ec_ref(&ref, kinds[k], 900 + k, blob, bloblen, auth, 32);
		for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
			rnd(dg, lens[i]);
			ec_sign_check(be, &ref, pt, ptlen, dg, lens[i]);
			ref.id = 0;
			ec_sign_check(be, &ref, pt, ptlen, dg, lens[i]);
			ref.id = 900 + k;
		}
		/* a cached key signs with one command (shared: + context) */
		{
			struct m2m_backend_stats s0, s1;
			uint8_t sig[M2M_EC_SIG_MAX];
			size_t siglen = 0;

			assert_int_equal(OPS.ec_sign(be, &ref, dg, 32, sig,
			    &siglen), 0);	/* loaded again (id 0 above) */
			OPS.stats(be, &s0);
			assert_int_equal(OPS.ec_sign(be, &ref, dg, 32, sig,
			    &siglen), 0);
			OPS.stats(be, &s1);
			print_message("%s: cached ECDSA sign: %lu command(s)\n",
			    g_shared ? "shared" : "exclusive",
			    s1.commands - s0.commands);
			assert_int_equal(s1.commands - s0.commands,
			    g_shared ? 7 : 1);
			assert_int_equal(s1.loads - s0.loads, 0);
		}
		/* a second key: another point, its own signatures */
		assert_int_equal(OPS.ec_generate(be, kinds[k], NULL, 0,
		    &blob2, &bloblen2, pt2, &pt2len), 0);
		assert_int_equal(pt2len, ptlen);
		assert_memory_not_equal(pt, pt2, ptlen);
		ec_ref(&ref, kinds[k], 910 + k, blob2, bloblen2, NULL, 0);
		rnd(dg, 32);
		ec_sign_check(be, &ref, pt2, pt2len, dg, 32);
		free(blob);
		free(blob2);
	}
}

/* RFC 6979 A.2.5: the P-256 key (x, Ux || Uy). */
static const char ec_rfc6979_d[] =
    "c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721";
static const char ec_rfc6979_q[] =
    "0460fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6"
    "7903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299";
/* The order n of P-256 (not a valid scalar) and of P-384. */
static const char ec_p256_n[] =
    "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";
static const char ec_p384_n[] =
    "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf"
    "581a0db248b0a77aecec196accc52973";

/*
 * Import: the RFC 6979 P-256 key gives its published public point, and
 * signs as it; a P-384 scalar gives the point OpenSSL derives; scalars out
 * of range or of the wrong size refused with KEY_SIZE, nothing returned.
 */
static void
test_ec_import(void **state)
{
	void *be = *state;
	uint8_t d[48], q[M2M_EC_POINT_MAX], pt[M2M_EC_POINT_MAX];
	uint8_t dg[48], auth[16], *blob = NULL;
	size_t dlen = 0, qlen = 0, ptlen = 0, bloblen = 0, n;
	struct m2m_keyref ref;
	EVP_PKEY *pk = NULL;
	EVP_PKEY_CTX *c;
	BIGNUM *priv = NULL;

	hex2bin(ec_rfc6979_d, d, &dlen);
	hex2bin(ec_rfc6979_q, q, &qlen);
	rnd(auth, sizeof(auth));
	assert_int_equal(OPS.ec_import(be, M2M_KIND_EC_P256, d, dlen, auth,
	    sizeof(auth), &blob, &bloblen, pt, &ptlen), 0);
	assert_int_equal(ptlen, 65);
	assert_memory_equal(pt, q, 65);
	ec_ref(&ref, M2M_KIND_EC_P256, 920, blob, bloblen, auth,
	    sizeof(auth));
	rnd(dg, 32);
	ec_sign_check(be, &ref, q, qlen, dg, 32);
	rnd(dg, 20);
	ec_sign_check(be, &ref, q, qlen, dg, 20);
	/* PIN binding holds for imported keys too */
	ref.auth = NULL;
	ref.authlen = 0;
	assert_int_equal(OPS.ec_sign(be, &ref, dg, 20, pt, &n),
	    M2M_ERR_BACKEND_AUTH);
	free(blob);
	blob = NULL;

	/* P-384: a key made by OpenSSL, its point as OpenSSL has it */
	assert_non_null(pk = EVP_EC_gen("secp384r1"));
	assert_int_equal(EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_PRIV_KEY,
	    &priv), 1);
	assert_int_equal(BN_bn2binpad(priv, d, 48), 48);
	BN_clear_free(priv);
	assert_int_equal(EVP_PKEY_get_octet_string_param(pk,
	    OSSL_PKEY_PARAM_PUB_KEY, q, sizeof(q), &qlen), 1);
	assert_int_equal(qlen, 97);
	assert_int_equal(OPS.ec_import(be, M2M_KIND_EC_P384, d, 48, NULL, 0,
	    &blob, &bloblen, pt, &ptlen), 0);
	assert_int_equal(ptlen, 97);
	assert_memory_equal(pt, q, 97);
	ec_ref(&ref, M2M_KIND_EC_P384, 0, blob, bloblen, NULL, 0);
	rnd(dg, 48);
	ec_sign_check(be, &ref, q, qlen, dg, 48);
	/* and OpenSSL's own signature check of a TPM signature via pk */
	{
		uint8_t sig[96], der[128], *p = der;
		size_t siglen = 0;
		ECDSA_SIG *es;
		int derlen;

		assert_int_equal(OPS.ec_sign(be, &ref, dg, 48, sig, &siglen),
		    0);
		assert_non_null(es = ECDSA_SIG_new());
		assert_int_equal(ECDSA_SIG_set0(es, BN_bin2bn(sig, 48, NULL),
		    BN_bin2bn(sig + 48, 48, NULL)), 1);
		assert_true((derlen = i2d_ECDSA_SIG(es, &p)) > 0);
		ECDSA_SIG_free(es);
		assert_non_null(c = EVP_PKEY_CTX_new(pk, NULL));
		assert_int_equal(EVP_PKEY_verify_init(c), 1);
		assert_int_equal(EVP_PKEY_verify(c, der, (size_t)derlen, dg,
		    48), 1);
		EVP_PKEY_CTX_free(c);
	}
	EVP_PKEY_free(pk);
	free(blob);
	blob = NULL;

	/* bad scalars: zero, n, n - 1 is fine, wrong length */
	memset(pt, 0xee, sizeof(pt));
	bloblen = ptlen = 4242;
	memset(d, 0, sizeof(d));
	assert_int_equal(OPS.ec_import(be, M2M_KIND_EC_P256, d, 32, NULL, 0,
	    &blob, &bloblen, pt, &ptlen), M2M_ERR_KEY_SIZE);
	hex2bin(ec_p256_n, d, &dlen);
	assert_int_equal(OPS.ec_import(be, M2M_KIND_EC_P256, d, 32, NULL, 0,
	    &blob, &bloblen, pt, &ptlen), M2M_ERR_KEY_SIZE);
	hex2bin(ec_p384_n, d, &dlen);
	assert_int_equal(OPS.ec_import(be, M2M_KIND_EC_P384, d, 48, NULL, 0,
	    &blob, &bloblen, pt, &ptlen), M2M_ERR_KEY_SIZE);
	memset(d, 0xff, sizeof(d));	/* above n */
	assert_int_equal(OPS.ec_import(be, M2M_KIND_EC_P256, d, 32, NULL, 0,
	    &blob, &bloblen, pt, &ptlen), M2M_ERR_KEY_SIZE);
	hex2bin(ec_rfc6979_d, d, &dlen);
	assert_int_equal(OPS.ec_import(be, M2M_KIND_EC_P256, d, 31, NULL, 0,
	    &blob, &bloblen, pt, &ptlen), M2M_ERR_KEY_SIZE);
	assert_int_equal(OPS.ec_import(be, M2M_KIND_EC_P384, d, 32, NULL, 0,
	    &blob, &bloblen, pt, &ptlen), M2M_ERR_KEY_SIZE);
	assert_int_equal(OPS.ec_import(be, M2M_KIND_HMAC, d, 32, NULL, 0,
	    &blob, &bloblen, pt, &ptlen), M2M_ERR_KEY_TYPE);
	assert_null(blob);
	assert_int_equal(bloblen, 4242);
	assert_int_equal(ptlen, 4242);
	assert_int_equal(pt[0], 0xee);
	hex2bin(ec_p256_n, d, &dlen);
	d[31]--;	/* n - 1: the largest valid scalar */
	assert_int_equal(OPS.ec_import(be, M2M_KIND_EC_P256, d, 32, NULL, 0,
	    &blob, &bloblen, pt, &ptlen), 0);
	ec_ref(&ref, M2M_KIND_EC_P256, 0, blob, bloblen, NULL, 0);
	rnd(dg, 32);
	ec_sign_check(be, &ref, pt, ptlen, dg, 32);
	free(blob);
}

/*
 * Refusals, each with its exact error and nothing written: a wrong kind
 * anywhere (KEY_TYPE), a digest of 0 or 65 bytes (DATA_LEN), a corrupted
 * or truncated blob (DATA_INVALID, or the TPM's integrity check:
 * BACKEND), the wrong auth or none (BACKEND_AUTH), cached or not.
 */
static void
test_ec_errors(void **state)
{
	void *be = *state;
	uint8_t pt[M2M_EC_POINT_MAX], sig[M2M_EC_SIG_MAX], want[M2M_EC_SIG_MAX];
	uint8_t dg[65], auth[32], other[32], key[32], out[32], *blob = NULL;
	uint8_t *bad = NULL, *hblob = NULL;
	size_t ptlen = 0, bloblen = 0, siglen, hlen = 0, i, privoff, privend;
	struct m2m_keyref ref, h;
	int r;

	rnd(auth, 32);
	memcpy(other, auth, 32);
	other[0] ^= 0x80;
	rnd(dg, sizeof(dg));
	memset(want, 0xee, sizeof(want));
	memcpy(sig, want, sizeof(sig));
	siglen = 4242;

	/* kinds */
	assert_int_equal(OPS.ec_generate(be, M2M_KIND_HMAC, NULL, 0, &blob,
	    &bloblen, pt, &ptlen), M2M_ERR_KEY_TYPE);
	assert_int_equal(OPS.ec_generate(be, M2M_KIND_AES, NULL, 0, &blob,
	    &bloblen, pt, &ptlen), M2M_ERR_KEY_TYPE);
	assert_int_equal(OPS.ec_generate(be, (enum m2m_key_kind)9, NULL, 0,
	    &blob, &bloblen, pt, &ptlen), M2M_ERR_KEY_TYPE);
	assert_null(blob);
	assert_int_equal(OPS.ec_generate(be, M2M_KIND_EC_P256, auth, 32,
	    &blob, &bloblen, pt, &ptlen), 0);
	ec_ref(&ref, M2M_KIND_EC_P256, 930, blob, bloblen, auth, 32);
	ref.kind = M2M_KIND_EC_P384;	/* a P-256 blob named P-384 */
	assert_int_equal(OPS.ec_sign(be, &ref, dg, 32, sig, &siglen),
	    M2M_ERR_KEY_TYPE);
	ref.kind = M2M_KIND_HMAC;
	assert_int_equal(OPS.ec_sign(be, &ref, dg, 32, sig, &siglen),
	    M2M_ERR_KEY_TYPE);
	assert_int_equal(OPS.hmac(be, &ref, M2M_HASH_SHA256, dg, 3, out),
	    M2M_ERR_KEY_TYPE);
	ref.kind = M2M_KIND_EC_P256;
	/* an EC key is never revealed: it has no sealed copy */
	{
		struct m2m_secret *s = SENTINEL_S;

		assert_int_equal(OPS.reveal(be, &ref, &s), M2M_ERR_UNSUPPORTED);
		assert_ptr_equal(s, SENTINEL_S);
	}
	/* an HMAC key refuses ec_sign */
	rnd(key, 32);
	assert_int_equal(OPS.wrap(be, M2M_KIND_HMAC, key, 32, &hblob, &hlen),
	    0);
	ec_ref(&h, M2M_KIND_HMAC, 931, hblob, hlen, NULL, 0);
	assert_int_equal(OPS.ec_sign(be, &h, dg, 32, sig, &siglen),
	    M2M_ERR_KEY_TYPE);
	h.kind = M2M_KIND_EC_P256;	/* an HMAC blob named EC */
	assert_int_equal(OPS.ec_sign(be, &h, dg, 32, sig, &siglen),
	    M2M_ERR_KEY_TYPE);
	free(hblob);

	/* digest lengths */
	assert_int_equal(OPS.ec_sign(be, &ref, dg, 0, sig, &siglen),
	    M2M_ERR_DATA_LEN);
	assert_int_equal(OPS.ec_sign(be, &ref, dg, 65, sig, &siglen),
	    M2M_ERR_DATA_LEN);
	assert_int_equal(OPS.ec_sign(be, &ref, NULL, 32, sig, &siglen),
	    M2M_ERR_INVALID_ARGUMENT);

	/* auth: none, wrong; then right (cached), then wrong again */
	ref.auth = NULL;
	ref.authlen = 0;
	assert_int_equal(OPS.ec_sign(be, &ref, dg, 32, sig, &siglen),
	    M2M_ERR_BACKEND_AUTH);
	ref.auth = other;
	ref.authlen = 32;
	assert_int_equal(OPS.ec_sign(be, &ref, dg, 32, sig, &siglen),
	    M2M_ERR_BACKEND_AUTH);
	assert_memory_equal(sig, want, sizeof(sig));
	assert_int_equal(siglen, 4242);
	ref.auth = auth;
	ec_sign_check(be, &ref, pt, ptlen, dg, 32);
	ref.auth = other;
	assert_int_equal(OPS.ec_sign(be, &ref, dg, 32, sig, &siglen),
	    M2M_ERR_BACKEND_AUTH);
	ref.id = 0;
	assert_int_equal(OPS.ec_sign(be, &ref, dg, 32, sig, &siglen),
	    M2M_ERR_BACKEND_AUTH);
	assert_memory_equal(sig, want, sizeof(sig));
	ref.auth = auth;

	/* blobs: truncated, header, flipped private part, garbage */
	assert_non_null(bad = malloc(bloblen));
	memcpy(bad, blob, bloblen);
	ref.blob = bad;
	for (i = 0; i < bloblen; i += 7) {
		ref.bloblen = i;
		assert_int_equal(OPS.ec_sign(be, &ref, dg, 32, sig, &siglen),
		    M2M_ERR_DATA_INVALID);
	}
	ref.bloblen = bloblen;
	for (i = 0; i < 8; i++) {
		bad[i] ^= 0x40;
		assert_int_equal(OPS.ec_sign(be, &ref, dg, 32, sig, &siglen),
		    M2M_ERR_DATA_INVALID);
		bad[i] ^= 0x40;
	}
	bad[6] |= TPM_BLOB_F_SEALED;	/* an EC key has no sealed copy */
	assert_int_equal(OPS.ec_sign(be, &ref, dg, 32, sig, &siglen),
	    M2M_ERR_DATA_INVALID);
	bad[6] &= ~TPM_BLOB_F_SEALED;
	privoff = 8 + 2 + (((size_t)blob[8] << 8) | blob[9]);
	privend = privoff + 2 + (((size_t)blob[privoff] << 8) |
	    blob[privoff + 1]);
	assert_int_equal(privend, bloblen);
	bad[privend - 1] ^= 0x80;
	assert_int_equal(OPS.ec_sign(be, &ref, dg, 32, sig, &siglen),
	    M2M_ERR_BACKEND);
	bad[privend - 1] ^= 0x80;
	/* every byte of the public area: refused, or (unique) a failure */
	for (i = 8; i < privoff; i++) {
		bad[i] ^= 0x01;
		r = OPS.ec_sign(be, &ref, dg, 32, sig, &siglen);
		if (r != M2M_ERR_DATA_INVALID && r != M2M_ERR_BACKEND)
			print_error("flip at %zu: %d\n", i, r);
		assert_true(r == M2M_ERR_DATA_INVALID || r == M2M_ERR_BACKEND);
		bad[i] ^= 0x01;
	}
	assert_memory_equal(sig, want, sizeof(sig));
	ec_sign_check(be, &ref, pt, ptlen, dg, 32);	/* restored */
	rnd(bad, bloblen);
	assert_int_equal(OPS.ec_sign(be, &ref, dg, 32, sig, &siglen),
	    M2M_ERR_DATA_INVALID);
	free(bad);
	free(blob);
}

/*
 * TPM2_Duplicate of the backend's EC keys, tried by another TPM user with
 * the key's blob and authValue and a policy session for Duplicate: both a
 * generated key (fixedParent too) and an imported one (TPM2_Import allows
 * no fixedParent) are refused for their empty authPolicy, which no policy
 * session's digest equals (TPM_RC_POLICY_FAIL): neither can leave the TPM.
 */
static void
test_ec_no_duplicate(void **state)
{
	void *be = *state;
	TSS2_TCTI_CONTEXT *tcti = NULL;
	ESYS_CONTEXT *e;
	ESYS_TR prim = ESYS_TR_NONE, key = ESYS_TR_NONE, sess = ESYS_TR_NONE;
	TPM2B_PUBLIC tmpl;
	TPM2B_SENSITIVE_CREATE insens;
	TPM2B_DATA outside;
	TPML_PCR_SELECTION pcrs;
	TPMT_SYM_DEF sym;
	TPMT_SYM_DEF_OBJECT nosym;
	TPM2B_DATA *ekey = NULL;
	TPM2B_PRIVATE *dup = NULL;
	TPM2B_ENCRYPTED_SECRET *seed = NULL;
	struct tpm_blob b;
	uint8_t d[32], pt[M2M_EC_POINT_MAX], *blob = NULL;
	size_t dlen = 0, ptlen = 0, bloblen = 0;
	TSS2_RC rc;
	int imported;

	hex2bin(ec_rfc6979_d, d, &dlen);
	memset(&insens, 0, sizeof(insens));
	memset(&outside, 0, sizeof(outside));
	memset(&pcrs, 0, sizeof(pcrs));
	memset(&sym, 0, sizeof(sym));
	sym.algorithm = TPM2_ALG_NULL;
	memset(&nosym, 0, sizeof(nosym));
	nosym.algorithm = TPM2_ALG_NULL;
	e = side_open(&tcti);
	m2m_tpm_tmpl_primary(&tmpl);
	for (imported = 0; imported < 2; imported++) {
		if (imported)
			assert_int_equal(OPS.ec_import(be, M2M_KIND_EC_P256, d,
			    32, NULL, 0, &blob, &bloblen, pt, &ptlen), 0);
		else
			assert_int_equal(OPS.ec_generate(be, M2M_KIND_EC_P256,
			    NULL, 0, &blob, &bloblen, pt, &ptlen), 0);
		assert_int_equal(m2m_tpm_blob_parse(blob, bloblen, &b), 0);
		assert_int_equal(Esys_CreatePrimary(e, ESYS_TR_RH_OWNER,
		    ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &insens,
		    &tmpl, &outside, &pcrs, &prim, NULL, NULL, NULL, NULL),
		    TSS2_RC_SUCCESS);
		assert_int_equal(Esys_Load(e, prim, ESYS_TR_PASSWORD,
		    ESYS_TR_NONE, ESYS_TR_NONE, &b.obj.priv, &b.obj.pub, &key),
		    TSS2_RC_SUCCESS);
		assert_int_equal(Esys_StartAuthSession(e, ESYS_TR_NONE,
		    ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
		    NULL, TPM2_SE_POLICY, &sym, TPM2_ALG_SHA256, &sess),
		    TSS2_RC_SUCCESS);
		assert_int_equal(Esys_PolicyCommandCode(e, sess, ESYS_TR_NONE,
		    ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CC_Duplicate),
		    TSS2_RC_SUCCESS);
		rc = Esys_Duplicate(e, key, ESYS_TR_RH_NULL, sess,
		    ESYS_TR_NONE, ESYS_TR_NONE, NULL, &nosym, &ekey, &dup,
		    &seed);
		print_message("Duplicate of a%s key: %s\n", imported ?
		    "n imported" : " generated", Tss2_RC_Decode(rc));
		assert_null(dup);
		assert_int_equal(m2m_tpm_rc_base(rc), TPM2_RC_POLICY_FAIL);
		(void)Esys_FlushContext(e, sess);
		assert_int_equal(Esys_FlushContext(e, key), TSS2_RC_SUCCESS);
		assert_int_equal(Esys_FlushContext(e, prim), TSS2_RC_SUCCESS);
		free(blob);
		blob = NULL;
	}
	side_close(e, tcti);
}

/* ---- random, forget, stats, cache --------------------------------------- */

static void
test_random(void **state)
{
	void *be = *state;
	uint8_t a[100], b[100], z[100];

	memset(z, 0, sizeof(z));
	memcpy(a, z, sizeof(a));
	memcpy(b, z, sizeof(b));
	assert_int_equal(OPS.random(be, a, sizeof(a)), 0);
	assert_int_equal(OPS.random(be, b, sizeof(b)), 0);
	assert_memory_not_equal(a, b, sizeof(a));
	assert_memory_not_equal(a + 64, z, 36);	/* the second chunk too */
	assert_int_equal(OPS.random(be, a, 0), 0);
	assert_int_equal(OPS.random(be, NULL, 0), 0);
	assert_int_equal(OPS.random(be, NULL, 5), M2M_ERR_INVALID_ARGUMENT);
	assert_int_equal(OPS.random(be, a, 65537), M2M_ERR_DATA_LEN);
}

/*
 * Commands per operation, on a fresh backend against swtpm (3 transient
 * slots: 1 key loaded at most).
 * Exclusive mode: cached HMAC 1 (HMAC); uncached 2 (Load, HMAC), +1 when a
 * cached key must be flushed to make room, +1 for an id-0 key (flushed
 * after use).  The session was started at open.
 * Shared mode: every call adds ContextLoad and ContextSave of the session;
 * cached 5 (+ ContextLoad and Flush of the key); uncached 8 (+ ContextLoad
 * and Flush of the primary, Load, ContextSave of the key, Flush); id-0 7.
 */
static void
test_stats(void **state)
{
	void *be = *state;
	uint8_t k1[32], k2[32], msg[5] = "hello", out[32], want[32];
	struct m2m_backend_stats s0, s1;
	struct m2m_keyref r1, r2, r0;
	const char *mode = g_shared ? "shared" : "exclusive";

	rnd(k1, 32);
	rnd(k2, 32);
	wrap_ok(be, M2M_KIND_HMAC, k1, 32, &r1, 1001);
	wrap_ok(be, M2M_KIND_HMAC, k2, 32, &r2, 1002);
	r0 = r2;
	r0.id = 0;

	OPS.stats(be, &s0);
	assert_int_equal(OPS.hmac(be, &r0, M2M_HASH_SHA256, msg, 5, out), 0);
	OPS.stats(be, &s1);
	print_message("%s: first HMAC (id 0): %lu commands\n", mode,
	    s1.commands - s0.commands);
	assert_int_equal(s1.commands - s0.commands, g_shared ? 7 : 3);

	s0 = s1;
	assert_int_equal(OPS.hmac(be, &r1, M2M_HASH_SHA256, msg, 5, out), 0);
	OPS.stats(be, &s1);
	print_message("%s: uncached HMAC: %lu commands\n", mode,
	    s1.commands - s0.commands);
	assert_int_equal(s1.commands - s0.commands, g_shared ? 8 : 2);
	assert_int_equal(s1.loads - s0.loads, 1);

	s0 = s1;
	assert_int_equal(OPS.hmac(be, &r1, M2M_HASH_SHA256, msg, 5, out), 0);
	OPS.stats(be, &s1);
	print_message("%s: cached HMAC: %lu command(s)\n", mode,
	    s1.commands - s0.commands);
	assert_int_equal(s1.commands - s0.commands, g_shared ? 7 : 1);
	assert_int_equal(s1.loads - s0.loads, 0);

	s0 = s1;
	assert_int_equal(OPS.hmac(be, &r2, M2M_HASH_SHA256, msg, 5, out), 0);
	OPS.stats(be, &s1);
	print_message("%s: uncached HMAC, cache holding another key: %lu "
	    "commands\n", mode, s1.commands - s0.commands);
	assert_int_equal(s1.commands - s0.commands, g_shared ? 8 : 3);

	s0 = s1;
	assert_int_equal(OPS.hmac(be, &r0, M2M_HASH_SHA256, msg, 5, out), 0);
	OPS.stats(be, &s1);
	print_message("%s: id-0 HMAC: %lu commands\n", mode,
	    s1.commands - s0.commands);
	assert_int_equal(s1.commands - s0.commands, g_shared ? 7 : 4);

	/* forget drops the cached key: the next use loads it again */
	assert_int_equal(OPS.hmac(be, &r1, M2M_HASH_SHA256, msg, 5, out), 0);
	OPS.forget(be, 1001);
	OPS.forget(be, 4242);	/* unknown id: nothing */
	OPS.stats(be, &s0);
	assert_int_equal(OPS.hmac(be, &r1, M2M_HASH_SHA256, msg, 5, out), 0);
	OPS.stats(be, &s1);
	assert_int_equal(s1.loads - s0.loads, 1);
	assert_int_equal(s1.commands - s0.commands, g_shared ? 8 : 2);
	/* a reused id with another blob is never served from the cache */
	r2.id = 1001;
	assert_int_equal(OPS.hmac(be, &r2, M2M_HASH_SHA256, msg, 5, out), 0);
	ossl_hmac(M2M_HASH_SHA256, k2, 32, msg, 5, want);
	assert_memory_equal(out, want, 32);
	ref_free(&r1);
	ref_free(&r2);
}

/*
 * 20 keys (HMAC and AES) used round-robin 200 times, cache_size 64, straight
 * against swtpm (no resource manager): every result right, no
 * TPM_RC_OBJECT_MEMORY.
 */
static void
test_cache_stress(void **state)
{
	void *be = *state;
	uint8_t keys[20][32], msg[40], out[64], want[64], iv[12];
	struct m2m_keyref refs[20];
	struct m2m_backend_stats s0, s1;
	size_t i, k, outlen;

	rnd(msg, sizeof(msg));
	rnd(iv, sizeof(iv));
	for (k = 0; k < 20; k++) {
		rnd(keys[k], 32);
		wrap_ok(be, k % 4 == 3 ? M2M_KIND_AES : M2M_KIND_HMAC,
		    keys[k], 32, &refs[k], k % 5 == 4 ? 0 : 500 + k);
	}
	OPS.stats(be, &s0);
	for (i = 0; i < 200; i++) {
		k = i % 20;
		if (refs[k].kind == M2M_KIND_AES) {
			ossl_gcm(1, keys[k], 32, iv, 12, NULL, 0, msg, 40, 16,
			    want);
			assert_int_equal(OPS.aes_gcm(be, &refs[k], 1, iv, 12,
			    NULL, 0, 16, msg, 40, out, &outlen), 0);
			assert_memory_equal(out, want, 56);
		} else {
			ossl_hmac(M2M_HASH_SHA256, keys[k], 32, msg, 40, want);
			assert_int_equal(OPS.hmac(be, &refs[k],
			    M2M_HASH_SHA256, msg, 40, out), 0);
			assert_memory_equal(out, want, 32);
		}
	}
	OPS.stats(be, &s1);
	print_message("%s: 200 round-robin ops on 20 keys: %lu commands, "
	    "%lu loads\n", g_shared ? "shared" : "exclusive",
	    s1.commands - s0.commands, s1.loads - s0.loads);
	/*
	 * exclusive: 1 key fits, every op loads; shared: the 16 cached keys
	 * are loaded once (then from saved contexts), the 4 id-0 keys 10
	 * times each
	 */
	assert_int_equal(s1.loads - s0.loads, g_shared ? 56 : 200);
	/* one key used repeatedly is loaded once at most */
	OPS.stats(be, &s0);
	for (i = 0; i < 20; i++)
		assert_int_equal(OPS.hmac(be, &refs[0], M2M_HASH_SHA256, msg,
		    40, out), 0);
	OPS.stats(be, &s1);
	assert_int_equal(s1.loads - s0.loads, g_shared ? 0 : 1);
	for (k = 0; k < 20; k++)
		ref_free(&refs[k]);
}

/* One child process: its own backend, key and HMACs; 0 when all agree. */
static int
child_work(int n)
{
	uint8_t key[32], msg[64], out[32], want[32], iv[12], ct[80], w2[80];
	struct m2m_keyref ref, aref;
	uint8_t *blob = NULL, *ablob = NULL;
	size_t bloblen, abloblen, outlen;
	struct m2m_conf c;
	char err[256];
	void *be = NULL;
	unsigned int n2 = 0;
	int i, bad = 0;

	memset(&c, 0, sizeof(c));
	c.tpm_tcti = (char *)m2m_swtpm_tcti(g_tpm);
	c.cache_size = 64;
	if (RAND_bytes(key, sizeof(key)) != 1 ||
	    RAND_bytes(msg, sizeof(msg)) != 1 ||
	    RAND_bytes(iv, sizeof(iv)) != 1)
		return 1;
	if (OPS.open(&c, &be, err, sizeof(err)) != 0) {
		fprintf(stderr, "child %d: open: %s\n", n, err);
		return 1;
	}
	if (OPS.wrap(be, M2M_KIND_HMAC, key, 32, &blob, &bloblen) != 0 ||
	    OPS.wrap(be, M2M_KIND_AES, key, 32, &ablob, &abloblen) != 0) {
		bad = 1;
		goto out;
	}
	memset(&ref, 0, sizeof(ref));
	ref.id = 7;
	ref.kind = M2M_KIND_HMAC;
	ref.blob = blob;
	ref.bloblen = bloblen;
	aref = ref;
	aref.id = 8;
	aref.kind = M2M_KIND_AES;
	aref.blob = ablob;
	aref.bloblen = abloblen;
	for (i = 0; i < 25 && !bad; i++) {
		msg[0] = (uint8_t)i;
		HMAC(EVP_sha256(), key, 32, msg, sizeof(msg), want, &n2);
		if (OPS.hmac(be, &ref, M2M_HASH_SHA256, msg, sizeof(msg),
		    out) != 0 || memcmp(out, want, 32) != 0)
			bad = 1;
		/* no cmocka in a child: AES-GCM checked by a round trip */
		if (i % 5 == 0 && (OPS.aes_gcm(be, &aref, 1, iv, 12, NULL, 0,
		    16, msg, 64, ct, &outlen) != 0 || OPS.aes_gcm(be, &aref,
		    0, iv, 12, NULL, 0, 16, ct, 80, w2, &outlen) != 0 ||
		    outlen != 64 || memcmp(w2, msg, 64) != 0))
			bad = 1;
	}
 out:
	if (bad)
		fprintf(stderr, "child %d: an operation failed\n", n);
	free(blob);
	free(ablob);
	OPS.close(be);
	return bad;
}

/*
 * Four processes (three children and this one) share the swtpm, which has
 * no resource manager and 3 transient slots: every operation succeeds.
 */
static void
test_multiprocess(void **state)
{
	void *be = *state;
	uint8_t key[32], msg[40], out[32], want[32];
	struct m2m_keyref ref;
	pid_t pids[3];
	int i, r, bad = 0, status[3];

	rnd(key, 32);
	rnd(msg, 40);
	wrap_ok(be, M2M_KIND_HMAC, key, 32, &ref, 99);
	ossl_hmac(M2M_HASH_SHA256, key, 32, msg, 40, want);
	fflush(NULL);
	for (i = 0; i < 3; i++) {
		assert_true((pids[i] = fork()) != -1);
		if (pids[i] == 0)
			_exit(child_work(i));	/* no atexit: swtpm stays */
	}
	/* no assert until the children are reaped: they must not outlive us */
	for (i = 0; i < 60; i++) {
		memset(out, 0, sizeof(out));
		if ((r = OPS.hmac(be, &ref, M2M_HASH_SHA256, msg, 40,
		    out)) != 0 || memcmp(out, want, 32) != 0) {
			print_error("parent: HMAC %d: %s\n", i,
			    m2m_strerror(r));
			bad++;
		}
	}
	for (i = 0; i < 3; i++) {
		if (waitpid(pids[i], &status[i], 0) != pids[i])
			status[i] = -1;
	}
	assert_int_equal(bad, 0);
	for (i = 0; i < 3; i++) {
		assert_true(WIFEXITED(status[i]));
		assert_int_equal(WEXITSTATUS(status[i]), 0);
	}
	ref_free(&ref);
}

struct hog {
	ESYS_CONTEXT	*e;
	ESYS_TR		 h[3];
};

static void *
hog_release(void *arg)
{
	struct hog *hg = arg;
	struct timespec ts = { 0, 150 * 1000000L };
	int i;

	nanosleep(&ts, NULL);
	for (i = 0; i < 3; i++)
		(void)Esys_FlushContext(hg->e, hg->h[i]);
	return NULL;
}

/*
 * Shared mode, the TPM full (another "process" holds all 3 slots for
 * 150 ms): the call is retried and succeeds once they are freed.
 */
static void
test_shared_retry(void **state)
{
	void *be = *state;
	uint8_t key[32], msg[8] = "retrying", out[32], want[32];
	struct m2m_backend_stats s0, s1;
	TSS2_TCTI_CONTEXT *tcti = NULL;
	TPM2B_SENSITIVE_CREATE sens;
	TPM2B_PUBLIC t;
	TPM2B_DATA od;
	TPML_PCR_SELECTION pcr;
	struct m2m_keyref ref;
	struct hog hg;
	pthread_t th;
	int i;

	rnd(key, 32);
	wrap_ok(be, M2M_KIND_HMAC, key, 32, &ref, 31);
	assert_int_equal(OPS.hmac(be, &ref, M2M_HASH_SHA256, msg, 8, out), 0);
	hg.e = side_open(&tcti);
	memset(&sens, 0, sizeof(sens));
	memset(&t, 0, sizeof(t));
	memset(&od, 0, sizeof(od));
	memset(&pcr, 0, sizeof(pcr));
	t.publicArea.type = TPM2_ALG_KEYEDHASH;
	t.publicArea.nameAlg = TPM2_ALG_SHA256;
	t.publicArea.objectAttributes = TPMA_OBJECT_FIXEDTPM |
	    TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
	    TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_SIGN_ENCRYPT;
	t.publicArea.parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_HMAC;
	t.publicArea.parameters.keyedHashDetail.scheme.details.hmac.hashAlg =
	    TPM2_ALG_SHA256;
	for (i = 0; i < 3; i++) {
		t.publicArea.unique.keyedHash.size = 1;
		t.publicArea.unique.keyedHash.buffer[0] = (uint8_t)i;
		assert_int_equal(Esys_CreatePrimary(hg.e, ESYS_TR_RH_OWNER,
		    ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &sens, &t,
		    &od, &pcr, &hg.h[i], NULL, NULL, NULL, NULL),
		    TSS2_RC_SUCCESS);
	}
	assert_int_equal(pthread_create(&th, NULL, hog_release, &hg), 0);
	OPS.stats(be, &s0);
	memset(out, 0, sizeof(out));
	assert_int_equal(OPS.hmac(be, &ref, M2M_HASH_SHA256, msg, 8, out), 0);
	OPS.stats(be, &s1);
	assert_int_equal(pthread_join(th, NULL), 0);
	side_close(hg.e, tcti);
	ossl_hmac(M2M_HASH_SHA256, key, 32, msg, 8, want);
	assert_memory_equal(out, want, 32);
	print_message("HMAC with the TPM full for 150 ms: %lu commands\n",
	    s1.commands - s0.commands);
	assert_true(s1.commands - s0.commands > 5);	/* it did retry */
	ref_free(&ref);
}

/*
 * Shared mode: a process dies holding the lock between processes while a
 * child it forked without exec lives on, longer than a call's 20 s.  The
 * lock dies with its holder: the next open and call go through at once.
 * (With flock(2) the child's copy of the open file description kept the
 * lock until the child exited, and every call of every process waited for
 * it: found in review, 67 s.)  While the holder lives, a call waits no
 * longer than its 20 s budget (M2M_ERR_BUSY; here a budget begun 19.8 s
 * ago).  The holder takes the lock through the backend's own function on
 * a struct tpm of its own, so that it holds nothing in the TPM.
 */
static void
test_lock_dead_holder(void **state)
{
	void *be = *state, *b2 = NULL;
	struct m2m_keyref ref;
	struct m2m_conf c;
	uint8_t key[32], out[32];
	uint64_t t0, ms;
	char err[256] = "";
	struct tpm *w;
	int pfd[2], dfd[2], n, st, r;
	pid_t p, g = -1;

	rnd(key, 32);
	wrap_ok(be, M2M_KIND_HMAC, key, 32, &ref, 41);
	assert_int_equal(pipe(pfd), 0);
	assert_int_equal(pipe(dfd), 0);
	fflush(NULL);
	assert_true((p = fork()) != -1);
	if (p == 0) {
		struct tpm *h = calloc(1, sizeof(*h));

		close(dfd[1]);	/* its grandchild must not keep it open */
		if (h == NULL)
			_exit(1);
		h->shared = 1;
		m2m_tpm_shared_lock_open(h, NULL);
		if (h->lockfd < 0 ||
		    m2m_tpm_shared_lock(h, m2m_tpm_now_ms()) != 0)
			_exit(1);
		if ((g = fork()) == 0) {
			alarm(25);	/* outlives the budget, then ends */
			for (;;)
				pause();
		}
		if (write(pfd[1], &g, sizeof(g)) != sizeof(g))
			_exit(1);
		/* until told to die (EOF), then dies holding the lock */
		_exit(read(dfd[0], &n, 1) == 0 ? 0 : 1);
	}
	close(pfd[1]);
	close(dfd[0]);
	n = (int)read(pfd[0], &g, sizeof(g));
	close(pfd[0]);

	/* the holder lives: the wait ends with the budget */
	assert_non_null(w = calloc(1, sizeof(*w)));
	w->shared = 1;
	m2m_tpm_shared_lock_open(w, NULL);
	t0 = m2m_tpm_now_ms();
	r = m2m_tpm_shared_lock(w, t0 - 19800);
	ms = m2m_tpm_now_ms() - t0;
	if (r == 0)
		m2m_tpm_shared_unlock(w);
	m2m_tpm_shared_lock_close(w);
	free(w);
	close(dfd[1]);	/* the holder dies */
	assert_int_equal(waitpid(p, &st, 0), p);
	print_message("the holder alive: %s after %lu ms\n",
	    m2m_strerror(r), (unsigned long)ms);
	assert_int_equal(r, M2M_ERR_BUSY);
	assert_true(ms >= 150 && ms < 2000);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(n, (int)sizeof(g));
	assert_true(g > 0);

	t0 = m2m_tpm_now_ms();
	memset(&c, 0, sizeof(c));
	c.tpm_tcti = (char *)m2m_swtpm_tcti(g_tpm);
	c.cache_size = 64;
	r = OPS.open(&c, &b2, err, sizeof(err));
	if (r == 0)
		r = OPS.hmac(be, &ref, M2M_HASH_SHA256, key, 32, out);
	ms = m2m_tpm_now_ms() - t0;
	(void)kill(g, SIGKILL);	/* not our child: init reaps it */
	print_message("open and a call after the holder's death: %s in "
	    "%lu ms\n", m2m_strerror(r), (unsigned long)ms);
	if (b2 != NULL)
		OPS.close(b2);
	assert_int_equal(r, 0);
	assert_true(ms < 2000);
	ref_free(&ref);
}

/*
 * Shared mode: processes that end without closing the backend (a crash, a
 * kill, a program that never calls C_Finalize) leave nothing in the TPM:
 * 66 of them, more than swtpm's 64 active sessions, then this process
 * still opens and calls at once, and between calls no session is left.
 * (Found in review: each left its session saved, which holds one of the
 * 64 slots for good, so the 64th could not open, nor anyone after it,
 * until swtpm restarted.)
 */
static void
test_exit_without_close(void **state)
{
	void *be = *state, *b2 = NULL;
	struct m2m_keyref ref;
	struct m2m_conf c;
	uint8_t key[32], out[32];
	unsigned sl, ss;
	uint64_t t0, ms;
	char err[256] = "";
	int i, st, r;
	pid_t p;

	rnd(key, 32);
	wrap_ok(be, M2M_KIND_HMAC, key, 32, &ref, 43);
	memset(&c, 0, sizeof(c));
	c.tpm_tcti = (char *)m2m_swtpm_tcti(g_tpm);
	c.cache_size = 64;
	for (i = 0; i < 66; i++) {
		fflush(NULL);
		assert_true((p = fork()) != -1);
		if (p == 0) {
			void *b = NULL;

			r = OPS.open(&c, &b, err, sizeof(err));
			if (r == 0)
				r = OPS.hmac(b, &ref, M2M_HASH_SHA256, key, 32,
				    out);
			_exit(r == 0 ? 0 : 1);	/* no close */
		}
		assert_int_equal(waitpid(p, &st, 0), p);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			break;
	}
	sessions(&sl, &ss);
	print_message("%d children ended without close; sessions left: "
	    "%u loaded, %u saved\n", i, sl, ss);
	assert_int_equal(i, 66);
	assert_int_equal(sl + ss, 0);
	t0 = m2m_tpm_now_ms();
	r = OPS.open(&c, &b2, err, sizeof(err));
	if (r == 0)
		r = OPS.hmac(be, &ref, M2M_HASH_SHA256, key, 32, out);
	ms = m2m_tpm_now_ms() - t0;
	print_message("then an open and a call: %s in %lu ms\n",
	    m2m_strerror(r), (unsigned long)ms);
	if (b2 != NULL)
		OPS.close(b2);
	assert_int_equal(r, 0);
	assert_true(ms < 2000);
	ref_free(&ref);
}

/* ---- PIN binding -------------------------------------------------------- */

static void
test_pin(void **state)
{
	void *be = *state;
	struct m2m_secret *oa = NULL, *oa2 = NULL, *given = NULL;
	struct m2m_secret *s = SENTINEL_S;
	uint8_t *blob = NULL, *blob2 = NULL, *b3 = SENTINEL, key[16];
	size_t bloblen = 0, bloblen2 = 0, l3 = 5;
	struct m2m_keyref ref;
	uint8_t v[32];

	OPS.close(be);
	da_reset(3);	/* DA counter from zero */
	*state = be = be_open(64, 0);

	assert_int_equal(OPS.pin_seal(be, (const uint8_t *)"1234", 4, NULL,
	    &blob, &bloblen), 0);
	assert_int_equal(OPS.pin_check(be, blob, bloblen,
	    (const uint8_t *)"1234", 4, &oa), 0);
	assert_int_equal(m2m_secret_len(oa), 32);
	assert_int_equal(OPS.pin_check(be, blob, bloblen,
	    (const uint8_t *)"1234", 4, &oa2), 0);
	assert_memory_equal(m2m_secret_data(oa), m2m_secret_data(oa2), 32);
	m2m_secret_free(oa2);
	oa2 = NULL;

	/* a second PIN sealing the same objauth (SO + user, C_SetPIN) */
	assert_int_equal(OPS.pin_seal(be, (const uint8_t *)"so-pin-99", 9, oa,
	    &blob2, &bloblen2), 0);
	assert_int_equal(OPS.pin_check(be, blob2, bloblen2,
	    (const uint8_t *)"so-pin-99", 9, &oa2), 0);
	assert_memory_equal(m2m_secret_data(oa), m2m_secret_data(oa2), 32);

	/* wrong PIN: PIN_INCORRECT, nothing returned */
	assert_int_equal(OPS.pin_check(be, blob, bloblen,
	    (const uint8_t *)"1235", 4, &s), M2M_ERR_PIN_INCORRECT);
	assert_ptr_equal(s, SENTINEL_S);
	assert_int_equal(OPS.pin_check(be, blob, bloblen, NULL, 0, &s),
	    M2M_ERR_PIN_INCORRECT);
	assert_ptr_equal(s, SENTINEL_S);
	/* other blobs */
	rnd(key, 16);
	wrap_ok(be, M2M_KIND_HMAC, key, 16, &ref, 0);
	assert_int_equal(OPS.pin_check(be, ref.blob, ref.bloblen,
	    (const uint8_t *)"1234", 4, &s), M2M_ERR_KEY_TYPE);
	assert_int_equal(OPS.pin_check(be, blob, bloblen - 1,
	    (const uint8_t *)"1234", 4, &s), M2M_ERR_DATA_INVALID);
	assert_ptr_equal(s, SENTINEL_S);
	ref_free(&ref);
	/* the objauth as a key's authorisation */
	memcpy(v, m2m_secret_data(oa), 32);
	assert_int_equal(OPS.wrap_auth(be, M2M_KIND_HMAC, key, 16, v, 32,
	    &b3, &l3), 0);
	free(b3);
	/* given objauth of a bad size */
	assert_int_equal(m2m_secret_new(0, &given), 0);
	b3 = SENTINEL;
	l3 = 5;
	assert_int_equal(OPS.pin_seal(be, (const uint8_t *)"1", 1, given, &b3,
	    &l3), M2M_ERR_INVALID_ARGUMENT);
	assert_ptr_equal(b3, SENTINEL);
	assert_int_equal(l3, 5);
	m2m_secret_free(given);
	m2m_wipe(v, sizeof(v));
	m2m_secret_free(oa);
	m2m_secret_free(oa2);
	free(blob);
	free(blob2);
	OPS.close(be);
	da_reset(3);
	*state = be_open(64, 0);
}

/* Wrong PINs run into the TPM's dictionary-attack lockout (max 3 tries);
 * non-DA keys keep working meanwhile. */
static void
test_pin_lockout(void **state)
{
	void *be = *state;
	struct m2m_secret *s = SENTINEL_S, *oa = NULL;
	uint8_t *blob = NULL, key[32], msg[3] = "abc", out[32], want[32];
	size_t bloblen = 0, i;
	struct m2m_keyref ref;

	OPS.close(be);
	da_reset(3);
	*state = be = be_open(64, 0);
	assert_int_equal(OPS.pin_seal(be, (const uint8_t *)"123456", 6, NULL,
	    &blob, &bloblen), 0);
	for (i = 0; i < 3; i++)
		assert_int_equal(OPS.pin_check(be, blob, bloblen,
		    (const uint8_t *)"000000", 6, &s), M2M_ERR_PIN_INCORRECT);
	assert_int_equal(OPS.pin_check(be, blob, bloblen,
	    (const uint8_t *)"000000", 6, &s), M2M_ERR_PIN_LOCKED);
	/* the right PIN is refused too while locked out */
	assert_int_equal(OPS.pin_check(be, blob, bloblen,
	    (const uint8_t *)"123456", 6, &s), M2M_ERR_PIN_LOCKED);
	assert_ptr_equal(s, SENTINEL_S);
	/* keys are noDA: still usable */
	rnd(key, 32);
	wrap_ok(be, M2M_KIND_HMAC, key, 32, &ref, 0);
	assert_int_equal(OPS.hmac(be, &ref, M2M_HASH_SHA256, msg, 3, out), 0);
	ossl_hmac(M2M_HASH_SHA256, key, 32, msg, 3, want);
	assert_memory_equal(out, want, 32);
	ref_free(&ref);
	/* lockout reset (lockout hierarchy): the right PIN works again */
	OPS.close(be);
	da_reset(3);
	*state = be = be_open(64, 0);
	assert_int_equal(OPS.pin_check(be, blob, bloblen,
	    (const uint8_t *)"123456", 6, &oa), 0);
	m2m_secret_free(oa);
	free(blob);
}

/*
 * The binding MAC (tpm_bind.c, issue 10 item 5): HMAC-SHA-256 under the
 * keyedHash primary of the owner hierarchy with the fixed binding
 * template, the same for every open, with or without a persistent storage
 * primary, and after a TPM restart; not the MAC of another keyedHash
 * primary (the TCG-style template without our unique field).
 */
static void
test_bind_mac(void **state)
{
	void *be = *state, *pbe;
	static const uint8_t msg[] = "m2mtoken object binding v1 test";
	uint8_t mac[32], mac2[32], other[32];
	TSS2_TCTI_CONTEXT *tcti = NULL;
	ESYS_CONTEXT *e;
	TPM2B_SENSITIVE_CREATE sc;
	TPM2B_PUBLIC t;
	TPM2B_DATA od;
	TPML_PCR_SELECTION pcr;
	TPM2B_MAX_BUFFER buf;
	TPM2B_DIGEST *res = NULL;
	ESYS_TR h;
	struct timespec t0, t1;
	int pass;

	assert_int_equal(OPS.bind_mac(be, msg, sizeof(msg), mac), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (pass = 0; pass < 10; pass++) {
		assert_int_equal(OPS.bind_mac(be, msg, sizeof(msg), mac2), 0);
		assert_memory_equal(mac, mac2, 32);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	print_message("bind_mac (%s mode): %.2f ms each\n",
	    g_shared ? "shared" : "exclusive",
	    ((t1.tv_sec - t0.tv_sec) * 1e3 +
	    (t1.tv_nsec - t0.tv_nsec) / 1e6) / 10);
	assert_int_equal(OPS.bind_mac(be, msg, sizeof(msg) - 1, mac2), 0);
	assert_memory_not_equal(mac, mac2, 32);
	memset(mac2, 0xa5, sizeof(mac2));
	memset(other, 0xa5, sizeof(other));
	assert_int_equal(OPS.bind_mac(be, msg, 0, mac2),
	    M2M_ERR_INVALID_ARGUMENT);
	assert_int_equal(OPS.bind_mac(be, msg, M2M_BIND_MSG_MAX + 1, mac2),
	    M2M_ERR_INVALID_ARGUMENT);
	assert_memory_equal(mac2, other, sizeof(mac2));	/* unwritten */

	/* the key the template names, made by another client of the TPM */
	e = side_open(&tcti);
	memset(&sc, 0, sizeof(sc));
	memset(&od, 0, sizeof(od));
	memset(&pcr, 0, sizeof(pcr));
	buf.size = sizeof(msg);
	memcpy(buf.buffer, msg, sizeof(msg));
	for (pass = 0; pass < 2; pass++) {
		m2m_tpm_tmpl_bind(&t);
		if (pass == 1)
			t.publicArea.unique.keyedHash.size = 0;
		assert_int_equal(Esys_CreatePrimary(e, ESYS_TR_RH_OWNER,
		    ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &sc, &t, &od,
		    &pcr, &h, NULL, NULL, NULL, NULL), TSS2_RC_SUCCESS);
		assert_int_equal(Esys_HMAC(e, h, ESYS_TR_PASSWORD,
		    ESYS_TR_NONE, ESYS_TR_NONE, &buf, TPM2_ALG_SHA256, &res),
		    TSS2_RC_SUCCESS);
		assert_int_equal(res->size, 32);
		memcpy(pass == 0 ? mac2 : other, res->buffer, 32);
		Esys_Free(res);
		res = NULL;
		assert_int_equal(Esys_FlushContext(e, h), TSS2_RC_SUCCESS);
	}
	side_close(e, tcti);
	assert_memory_equal(mac, mac2, 32);
	assert_memory_not_equal(mac, other, 32);

	/* another open, a persistent storage primary, a TPM restart */
	OPS.close(be);
	*state = NULL;
	pbe = be_open(64, PERSIST_H);
	memset(mac2, 0, sizeof(mac2));
	assert_int_equal(OPS.bind_mac(pbe, msg, sizeof(msg), mac2), 0);
	assert_memory_equal(mac, mac2, 32);
	OPS.close(pbe);
	assert_int_equal(m2m_swtpm_restart(g_tpm), 0);
	*state = be = be_open(64, 0);
	memset(mac2, 0, sizeof(mac2));
	assert_int_equal(OPS.bind_mac(be, msg, sizeof(msg), mac2), 0);
	assert_memory_equal(mac, mac2, 32);
}

/* ---- persistence -------------------------------------------------------- */

/* Keys survive a swtpm restart (transient and persistent primary). */
static void
test_restart(void **state)
{
	void *be = *state;
	uint8_t key[32], msg[7] = "restart", out[32], out2[32], out3[32];
	struct m2m_keyref ref, pref;
	void *pbe;

	rnd(key, 32);
	wrap_ok(be, M2M_KIND_HMAC, key, 32, &ref, 3);
	assert_int_equal(OPS.hmac(be, &ref, M2M_HASH_SHA256, msg, 7, out), 0);
	OPS.close(be);
	*state = NULL;

	pbe = be_open(64, PERSIST_H);	/* creates + EvictControl */
	wrap_ok(pbe, M2M_KIND_HMAC, key, 32, &pref, 3);
	assert_int_equal(OPS.hmac(pbe, &pref, M2M_HASH_SHA256, msg, 7, out3),
	    0);
	assert_memory_equal(out3, out, 32);
	OPS.close(pbe);

	assert_int_equal(m2m_swtpm_restart(g_tpm), 0);

	*state = be = be_open(64, 0);
	memset(out2, 0, 32);
	assert_int_equal(OPS.hmac(be, &ref, M2M_HASH_SHA256, msg, 7, out2), 0);
	assert_memory_equal(out2, out, 32);
	OPS.close(be);
	*state = NULL;

	pbe = be_open(64, PERSIST_H);	/* found at the handle */
	memset(out3, 0, 32);
	assert_int_equal(OPS.hmac(pbe, &pref, M2M_HASH_SHA256, msg, 7, out3),
	    0);
	assert_memory_equal(out3, out, 32);
	OPS.close(pbe);
	*state = be_open(64, 0);
	ref_free(&ref);
	ref_free(&pref);
}

/* A persistent handle holding some other key is refused, not used. */
static void
test_foreign_persistent(void **state)
{
	struct m2m_conf c;
	TSS2_TCTI_CONTEXT *tcti = NULL;
	ESYS_CONTEXT *e;
	TPM2B_SENSITIVE_CREATE s;
	TPM2B_PUBLIC t;
	TPM2B_DATA od;
	TPML_PCR_SELECTION pcr;
	ESYS_TR h, p;
	char err[256] = "";
	void *impl = SENTINEL;

	OPS.close(*state);
	*state = NULL;
	e = side_open(&tcti);
	memset(&s, 0, sizeof(s));
	memset(&t, 0, sizeof(t));
	memset(&od, 0, sizeof(od));
	memset(&pcr, 0, sizeof(pcr));
	t.publicArea.type = TPM2_ALG_KEYEDHASH;
	t.publicArea.nameAlg = TPM2_ALG_SHA256;
	t.publicArea.objectAttributes = TPMA_OBJECT_FIXEDTPM |
	    TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
	    TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_SIGN_ENCRYPT;
	t.publicArea.parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_HMAC;
	t.publicArea.parameters.keyedHashDetail.scheme.details.hmac.hashAlg =
	    TPM2_ALG_SHA256;
	assert_int_equal(Esys_CreatePrimary(e, ESYS_TR_RH_OWNER,
	    ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &s, &t, &od, &pcr,
	    &h, NULL, NULL, NULL, NULL), TSS2_RC_SUCCESS);
	assert_int_equal(Esys_EvictControl(e, ESYS_TR_RH_OWNER, h,
	    ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, FOREIGN_H, &p),
	    TSS2_RC_SUCCESS);
	assert_int_equal(Esys_FlushContext(e, h), TSS2_RC_SUCCESS);
	side_close(e, tcti);

	memset(&c, 0, sizeof(c));
	c.tpm_tcti = (char *)m2m_swtpm_tcti(g_tpm);
	c.tpm_primary_handle = FOREIGN_H;
	assert_int_equal(OPS.open(&c, &impl, err, sizeof(err)),
	    M2M_ERR_BACKEND);
	assert_ptr_equal(impl, SENTINEL);
	assert_non_null(strstr(err, "not an m2mtoken storage key"));
	*state = be_open(64, 0);
}

/* TPM2_Clear changes the owner seed: old blobs fail cleanly (BACKEND),
 * new keys work, a persistent primary is re-created. */
static void
test_owner_clear(void **state)
{
	void *be = *state;
	uint8_t key[32], msg[4] = "data", out[32], ref_out[32], iv[12];
	struct m2m_keyref ref, aref, pref;
	TSS2_TCTI_CONTEXT *tcti = NULL;
	ESYS_CONTEXT *e;
	size_t outlen = 3;
	void *pbe;

	rnd(key, 32);
	rnd(iv, 12);
	wrap_ok(be, M2M_KIND_HMAC, key, 32, &ref, 11);
	wrap_ok(be, M2M_KIND_AES, key, 32, &aref, 12);
	assert_int_equal(OPS.hmac(be, &ref, M2M_HASH_SHA256, msg, 4, out), 0);
	OPS.close(be);
	*state = NULL;
	pbe = be_open(64, PERSIST_H);
	wrap_ok(pbe, M2M_KIND_HMAC, key, 32, &pref, 13);
	OPS.close(pbe);

	e = side_open(&tcti);
	assert_int_equal(Esys_Clear(e, ESYS_TR_RH_LOCKOUT, ESYS_TR_PASSWORD,
	    ESYS_TR_NONE, ESYS_TR_NONE), TSS2_RC_SUCCESS);
	side_close(e, tcti);

	*state = be = be_open(64, 0);
	memset(ref_out, 0x77, 32);
	memcpy(out, ref_out, 32);
	assert_int_equal(OPS.hmac(be, &ref, M2M_HASH_SHA256, msg, 4, out),
	    M2M_ERR_BACKEND);
	assert_memory_equal(out, ref_out, 32);
	assert_int_equal(OPS.aes_gcm(be, &aref, 1, iv, 12, NULL, 0, 16, msg,
	    4, out, &outlen), M2M_ERR_BACKEND);
	assert_int_equal(outlen, 3);
	ref_free(&ref);
	/* new keys work */
	wrap_ok(be, M2M_KIND_HMAC, key, 32, &ref, 11);
	assert_int_equal(OPS.hmac(be, &ref, M2M_HASH_SHA256, msg, 4, out), 0);
	OPS.close(be);
	*state = NULL;

	pbe = be_open(64, PERSIST_H);	/* evicted by the clear: re-created */
	assert_int_equal(OPS.hmac(pbe, &pref, M2M_HASH_SHA256, msg, 4, out),
	    M2M_ERR_BACKEND);
	OPS.close(pbe);
	*state = be_open(64, 0);
	ref_free(&ref);
	ref_free(&aref);
	ref_free(&pref);
}

/*
 * A man in the middle on the TPM bus (support_tamper.c) flips one bit of a
 * TPM2_HMAC (then of an Unseal, a GetRandom and a Create).  In the response (the encrypted MAC or the TPM's session HMAC)
 * the backend's response check refuses it: M2M_ERR_BACKEND, out untouched.
 * In the command's encrypted message the TPM refuses it: BACKEND_AUTH.
 * Either way the next HMAC is right again (the backend starts a new
 * session).  The fixture's backend is closed first: in exclusive mode two
 * backends do not fit in swtpm's 3 object slots.  Offsets, response: header 10 | parameterSize 4 | outHMAC size
 * 2 | MAC 32 | nonce 2+32 | attributes 1 | hmac 2+32 (117 bytes); command:
 * header 10 | key handle 4 | authorizationSize 4 | session 4 | nonce 2+32 |
 * attributes 1 | hmac 2+32 | buffer size 2 | message.
 */
static void
test_bus_tamper(void **state)
{
	static const struct {
		int	 response;
		size_t	 off;
		int	 want;
	} flips[] = {
		{ 1, 16, M2M_ERR_BACKEND },	/* first byte of the MAC */
		{ 1, 116, M2M_ERR_BACKEND },	/* last byte of the hmac */
		{ 1, 60, M2M_ERR_BACKEND },	/* the nonceTPM */
		{ 1, 83, M2M_ERR_BACKEND },	/* hmac size: malformed */
		{ 0, 97, M2M_ERR_BACKEND_AUTH }, /* a message byte */
		{ 0, 30, M2M_ERR_BACKEND_AUTH }, /* the nonceCaller */
	};
	struct m2m_tamper *mitm = NULL;
	struct m2m_keyref ref;
	struct m2m_conf c;
	uint8_t key[32], msg[40], out[32], want[32], keep[32];
	char err[256] = "";
	void *be = NULL;
	size_t i;

	OPS.close(*state);
	*state = NULL;
	assert_int_equal(m2m_tamper_start(m2m_swtpm_tcti(g_tpm), &mitm), 0);
	memset(&c, 0, sizeof(c));
	c.tpm_tcti = (char *)m2m_tamper_tcti(mitm);
	c.cache_size = 64;
	c.tpm_mode = g_mode;
	if (OPS.open(&c, &be, err, sizeof(err)) != 0)
		fail_msg("open through the proxy: %s", err);
	rnd(key, sizeof(key));
	rnd(msg, sizeof(msg));
	ossl_hmac(M2M_HASH_SHA256, key, 32, msg, sizeof(msg), want);
	wrap_ok(be, M2M_KIND_HMAC, key, 32, &ref, 77);
	assert_int_equal(OPS.hmac(be, &ref, M2M_HASH_SHA256, msg,
	    sizeof(msg), out), 0);
	assert_memory_equal(out, want, 32);

	for (i = 0; i < sizeof(flips) / sizeof(flips[0]); i++) {
		print_message("%s: flip byte %zu of the %s\n",
		    g_shared ? "shared" : "exclusive", flips[i].off,
		    flips[i].response ? "response" : "command");
		m2m_tamper_arm(mitm, TPM2_CC_HMAC, flips[i].response,
		    flips[i].off);
		memset(out, 0xc3, sizeof(out));
		memcpy(keep, out, sizeof(out));
		assert_int_equal(OPS.hmac(be, &ref, M2M_HASH_SHA256, msg,
		    sizeof(msg), out), flips[i].want);
		assert_int_equal(m2m_tamper_fired(mitm), i + 1);
		assert_memory_equal(out, keep, sizeof(out));
		assert_int_equal(OPS.hmac(be, &ref, M2M_HASH_SHA256, msg,
		    sizeof(msg), out), 0);
		assert_memory_equal(out, want, 32);
	}

	/*
	 * The other session commands.  Unseal (reveal) and GetRandom
	 * responses: header 10 | parameterSize 4 | size 2 | bytes: byte 16
	 * is the first encrypted byte.  Create command: byte 97 is the first
	 * byte of the encrypted inSensitive, as the message above.
	 */
	{
		struct m2m_secret *v = NULL;
		struct m2m_keyref r2;
		uint8_t *blob = SENTINEL, rb[16];
		size_t bloblen = 3;
		unsigned fired = m2m_tamper_fired(mitm);

		m2m_tamper_arm(mitm, TPM2_CC_Unseal, 1, 16);
		assert_int_equal(OPS.reveal(be, &ref, &v), M2M_ERR_BACKEND);
		assert_null(v);
		assert_int_equal(m2m_tamper_fired(mitm), ++fired);
		assert_int_equal(OPS.reveal(be, &ref, &v), 0);
		assert_memory_equal(m2m_secret_data(v), key, 32);
		m2m_secret_free(v);

		m2m_tamper_arm(mitm, TPM2_CC_GetRandom, 1, 16);
		assert_int_equal(OPS.random(be, rb, sizeof(rb)),
		    M2M_ERR_BACKEND);
		assert_int_equal(m2m_tamper_fired(mitm), ++fired);
		assert_int_equal(OPS.random(be, rb, sizeof(rb)), 0);

		m2m_tamper_arm(mitm, TPM2_CC_Create, 0, 97);
		assert_int_equal(OPS.wrap(be, M2M_KIND_HMAC, key, 32, &blob,
		    &bloblen), M2M_ERR_BACKEND_AUTH);
		assert_ptr_equal(blob, SENTINEL);
		assert_int_equal(bloblen, 3);
		assert_int_equal(m2m_tamper_fired(mitm), ++fired);
		wrap_ok(be, M2M_KIND_HMAC, key, 32, &r2, 0);
		assert_int_equal(OPS.hmac(be, &r2, M2M_HASH_SHA256, msg,
		    sizeof(msg), out), 0);
		assert_memory_equal(out, want, 32);
		ref_free(&r2);
	}

	/*
	 * An HMAC sequence (a message longer than a TPM buffer): the proxy
	 * completes it first, with an empty password and a message of its
	 * own.  The sequence's authValue is a secret of the module, so the
	 * TPM refuses (TPM_RC_AUTH_FAIL or _BAD_AUTH, session 1), and the
	 * module's own HMAC then completes and is right (test_seq_auth).
	 */
	{
		static uint8_t big[3000];
		unsigned fired = m2m_tamper_fired(mitm);
		long rc;

		rnd(big, sizeof(big));
		ossl_hmac(M2M_HASH_SHA256, key, 32, big, sizeof(big), want);
		m2m_tamper_arm_inject(mitm);
		memset(out, 0, sizeof(out));
		assert_int_equal(OPS.hmac(be, &ref, M2M_HASH_SHA256, big,
		    sizeof(big), out), 0);
		assert_int_equal(m2m_tamper_fired(mitm), fired + 1);
		rc = m2m_tamper_inject_rc(mitm);
		print_message("injected SequenceComplete: 0x%lx\n", rc);
		assert_true(rc == (TPM2_RC_AUTH_FAIL | TPM2_RC_S | TPM2_RC_1) ||
		    rc == (TPM2_RC_BAD_AUTH | TPM2_RC_S | TPM2_RC_1));
		assert_memory_equal(out, want, 32);
	}
	ref_free(&ref);
	OPS.close(be);
	m2m_tamper_free(mitm);
}

/* A conf for m2m_core_open_ops (which takes it): the TPM at tcti. */
static struct m2m_conf *
anchor_conf(const char *store_path, const char *tcti)
{
	struct m2m_conf *conf;

	assert_non_null(conf = calloc(1, sizeof(*conf)));
	assert_non_null(conf->path = strdup("anchor.conf"));
	assert_non_null(conf->store_path = strdup(store_path));
	assert_non_null(conf->tpm_tcti = strdup(tcti));
	conf->backend = M2M_BACKEND_TPM;
	conf->tpm_mode = g_mode;
	conf->cache_size = 64;
	conf->pin_min = 4;
	conf->pin_max = 64;
	conf->max_pin_tries = 5;
	return conf;
}

/*
 * The storage primary is anchored (backend.h, anchor): a store keeps the
 * name of the primary its first open salted to, and an open that finds
 * another is refused before any session starts.  Another TPM stands in
 * for a substitute answering on the bus: to the module, both are a
 * primary of another name.  The same TPM opens again.
 */
static void
test_anchor(void **state)
{
	struct m2m_swtpm *other = NULL;
	struct m2m_core *core = NULL;
	struct m2m_conf c;
	uint8_t name[M2M_BACKEND_ANCHOR_MAX];
	char dir[] = "/tmp/m2m-anchor.XXXXXX", path[64], err[512] = "";
	size_t n = 0;
	void *be = NULL;

	OPS.close(*state);
	*state = NULL;
	/* the backend alone: its anchor, a wrong one refused */
	be = be_open(64, 0);
	assert_non_null(OPS.anchor);
	assert_int_equal(OPS.anchor(be, name, sizeof(name), &n), 0);
	assert_int_equal(n, 2 + 32);	/* nameAlg SHA-256 and the digest */
	OPS.close(be);
	be = NULL;
	memset(&c, 0, sizeof(c));
	c.tpm_tcti = (char *)m2m_swtpm_tcti(g_tpm);
	c.cache_size = 64;
	c.tpm_mode = g_mode;
	memcpy(c.backend_anchor, name, n);
	c.backend_anchor_len = n;
	assert_int_equal(OPS.open(&c, &be, err, sizeof(err)), 0);
	OPS.close(be);
	be = NULL;
	c.backend_anchor[n - 1] ^= 1;
	assert_int_equal(OPS.open(&c, &be, err, sizeof(err)),
	    M2M_ERR_BACKEND);
	assert_null(be);
	assert_non_null(strstr(err, "not the one this store was made with"));

	/* through the core: the store keeps it */
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/store.db", dir);
	assert_int_equal(m2m_core_open_ops(anchor_conf(path,
	    m2m_swtpm_tcti(g_tpm)), &OPS, &core, err, sizeof(err)), 0);
	m2m_core_close(core);
	core = NULL;
	assert_int_equal(m2m_swtpm_start(&other), 0);
	err[0] = '\0';
	assert_int_equal(m2m_core_open_ops(anchor_conf(path,
	    m2m_swtpm_tcti(other)), &OPS, &core, err, sizeof(err)),
	    M2M_ERR_BACKEND);
	assert_null(core);
	assert_non_null(strstr(err, "not the one this store was made with"));
	assert_int_equal(m2m_core_open_ops(anchor_conf(path,
	    m2m_swtpm_tcti(g_tpm)), &OPS, &core, err, sizeof(err)), 0);
	m2m_core_close(core);
	core = NULL;
	/* a stored anchor of a length no TPM name has: refused, named */
	{
		static const uint8_t big[M2M_BACKEND_ANCHOR_MAX + 1];
		struct m2m_store *st = NULL;

		assert_int_equal(m2m_store_open(path, &st, err, sizeof(err)),
		    0);
		assert_int_equal(m2m_store_meta_put(st, "anchor.tpm", big,
		    sizeof(big)), 0);
		m2m_store_close(st);
		err[0] = '\0';
		assert_int_equal(m2m_core_open_ops(anchor_conf(path,
		    m2m_swtpm_tcti(g_tpm)), &OPS, &core, err, sizeof(err)),
		    M2M_ERR_STORE_CORRUPT);
		assert_null(core);
		assert_non_null(strstr(err, "cannot read the tpm backend's "
		    "anchor"));
	}
	/*
	 * The limit (docs/security-model.md): anchors are meta rows, which
	 * are not bound, so whoever can write the store can remove one, and
	 * the next open trusts what answers.  In a store with tokens a
	 * warning line says so (a second review).
	 */
	{
		struct m2m_token_rec rec;
		struct m2m_store *st = NULL;
		uint64_t tid = 0;
		char cmd[256], line[1024];
		FILE *cap;
		int saved;

		assert_int_equal(m2m_store_open(path, &st, err, sizeof(err)),
		    0);
		memset(&rec, 0, sizeof(rec));
		snprintf(rec.label, sizeof(rec.label), "anchored");
		snprintf(rec.serial, sizeof(rec.serial), "1");
		assert_int_equal(m2m_store_token_insert(st, &rec, &tid), 0);
		m2m_store_close(st);
		snprintf(cmd, sizeof(cmd), "sqlite3 '%s' \"DELETE FROM meta "
		    "WHERE key = 'anchor.tpm'\"", path);
		assert_int_equal(system(cmd), 0);
		cap = capture_start(&saved);
		m2m_log_set_level(M2M_LOG_WARNING);
		assert_int_equal(m2m_core_open_ops(anchor_conf(path,
		    m2m_swtpm_tcti(other)), &OPS, &core, err, sizeof(err)), 0);
		m2m_log_set_level(M2M_LOG_ERROR);
		capture_end(cap, saved, line, sizeof(line));
		m2m_core_close(core);
		core = NULL;
		assert_non_null(strstr(line, "the store has 1 token(s) but no "
		    "tpm anchor"));
	}
	m2m_swtpm_free(other);
	snprintf(err, sizeof(err), "rm -rf '%s'", dir);
	assert_int_equal(system(err), 0);
}

/*
 * The session's own bad inputs (tpm_sess.c): a salt key that is not the
 * ECC P-256 / SHA-256 storage key the backend makes, an ECC point that is
 * not on the curve, a command with no session started: each refused before
 * anything reaches the TPM, and no session is left.
 */
static void
test_sess_bad_input(void **state)
{
	TSS2_TCTI_CONTEXT *tcti = NULL;
	ESYS_CONTEXT *e = side_open(&tcti);
	struct tpm_sess *s = NULL;
	TPM2B_PUBLIC tmpl;
	TPMT_PUBLIC pub;
	TPM2B_AUTH big;
	TPM2B_NAME name;

	(void)state;
	assert_int_equal(m2m_tpm_sess_new(tcti, &s), 0);
	m2m_tpm_tmpl_primary(&tmpl);
	pub = tmpl.publicArea;
	pub.unique.ecc.x.size = pub.unique.ecc.y.size = 32;
	memset(pub.unique.ecc.x.buffer, 1, 32);	/* (1.., 1..): off the curve */
	memset(pub.unique.ecc.y.buffer, 1, 32);
	assert_int_equal(m2m_tpm_sess_start(s, 0x80000000, &pub),
	    TSS2_ESYS_RC_GENERAL_FAILURE);
	assert_int_equal(m2m_tpm_sess_state(s), TPM_SESS_NONE);
	pub.unique.ecc.x.size = 0;			/* no point at all */
	assert_int_equal(m2m_tpm_sess_start(s, 0x80000000, &pub),
	    TSS2_ESYS_RC_GENERAL_FAILURE);
	pub = tmpl.publicArea;
	pub.nameAlg = TPM2_ALG_SHA384;			/* not our template */
	assert_int_equal(m2m_tpm_sess_start(s, 0x80000000, &pub),
	    TSS2_ESYS_RC_BAD_VALUE);
	pub = tmpl.publicArea;
	pub.type = TPM2_ALG_RSA;
	assert_int_equal(m2m_tpm_sess_start(s, 0x80000000, &pub),
	    TSS2_ESYS_RC_BAD_VALUE);
	assert_int_equal(m2m_tpm_sess_state(s), TPM_SESS_NONE);

	memset(&name, 0, sizeof(name));
	memset(&big, 0, sizeof(big));
	assert_int_equal(m2m_tpm_sess_run(s, TPM2_CC_HMAC, &name, &big, 0),
	    TSS2_ESYS_RC_BAD_VALUE);			/* no session */
	m2m_tpm_sess_free(s);
	side_close(e, tcti);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_absent),
		cmocka_unit_test(test_mode_honoured),
		cmocka_unit_test_setup_teardown(test_hmac_rfc4231, be_setup,
		    be_teardown),
		cmocka_unit_test_setup_teardown(test_onem2m_example, be_setup,
		    be_teardown),
		cmocka_unit_test_setup_teardown(test_hmac_vs_openssl,
		    be_setup_excl, be_teardown),
		cmocka_unit_test_setup_teardown(test_hmac_vs_openssl,
		    be_setup, be_teardown),
		cmocka_unit_test_setup_teardown(test_hmac_errors, be_setup,
		    be_teardown),
		cmocka_unit_test_setup_teardown(test_hmac_seq_leak,
		    be_setup_excl, be_teardown),
		cmocka_unit_test_setup_teardown(test_hmac_seq_leak, be_setup,
		    be_teardown),
		cmocka_unit_test_setup_teardown(test_gcm_kat, be_setup,
		    be_teardown),
		cmocka_unit_test_setup_teardown(test_gcm_vs_openssl, be_setup,
		    be_teardown),
		cmocka_unit_test_setup_teardown(test_gcm_tamper, be_setup,
		    be_teardown),
		cmocka_unit_test_setup_teardown(test_gcm_aes192, be_setup,
		    be_teardown),
		cmocka_unit_test_setup_teardown(test_gcm_level_t, be_setup,
		    be_teardown),
		cmocka_unit_test_setup_teardown(test_keymsg_reveal, be_setup,
		    be_teardown),
		cmocka_unit_test_setup_teardown(test_wrap_auth, be_setup,
		    be_teardown),
		cmocka_unit_test_setup_teardown(test_ec_sign, be_setup,
		    be_teardown),
		cmocka_unit_test_setup_teardown(test_ec_sign, be_setup_excl,
		    be_teardown),
		cmocka_unit_test_setup_teardown(test_ec_import, be_setup,
		    be_teardown),
		cmocka_unit_test_setup_teardown(test_ec_import, be_setup_excl,
		    be_teardown),
		cmocka_unit_test_setup_teardown(test_ec_errors, be_setup,
		    be_teardown),
		cmocka_unit_test_setup_teardown(test_ec_no_duplicate,
		    be_setup, be_teardown),
		cmocka_unit_test_setup_teardown(test_ec_errors, be_setup_excl,
		    be_teardown),
		cmocka_unit_test_setup_teardown(test_random, be_setup,
		    be_teardown),
		cmocka_unit_test_setup_teardown(test_stats, be_setup_excl,
		    be_teardown),
		cmocka_unit_test_setup_teardown(test_stats, be_setup,
		    be_teardown),
		cmocka_unit_test_setup_teardown(test_cache_stress,
		    be_setup_excl, be_teardown),
		cmocka_unit_test_setup_teardown(test_cache_stress, be_setup,
		    be_teardown),
		cmocka_unit_test_setup_teardown(test_multiprocess, be_setup,
		    be_teardown),
		cmocka_unit_test_setup_teardown(test_shared_retry, be_setup,
		    be_teardown),
		cmocka_unit_test_setup_teardown(test_lock_dead_holder,
		    be_setup, be_teardown),
		cmocka_unit_test_setup_teardown(test_exit_without_close,
		    be_setup, be_teardown),
		cmocka_unit_test_setup_teardown(test_pin, be_setup,
		    be_teardown),
		cmocka_unit_test_setup_teardown(test_pin_lockout, be_setup,
		    be_teardown),
		cmocka_unit_test_setup_teardown(test_bind_mac, be_setup,
		    be_teardown),
		cmocka_unit_test_setup_teardown(test_bind_mac, be_setup_excl,
		    be_teardown),
		cmocka_unit_test_setup_teardown(test_restart, be_setup,
		    be_teardown),
		cmocka_unit_test_setup_teardown(test_foreign_persistent,
		    be_setup, be_teardown),
		cmocka_unit_test_setup_teardown(test_owner_clear, be_setup,
		    be_teardown),
		cmocka_unit_test_setup_teardown(test_anchor, be_setup,
		    be_teardown),
		cmocka_unit_test(test_sess_bad_input),
		cmocka_unit_test_setup_teardown(test_bus_tamper,
		    be_setup_excl, be_teardown),
		cmocka_unit_test_setup_teardown(test_bus_tamper, be_setup,
		    be_teardown),
	};

	/* tpm2-tss logs expected TPM errors (wrong auth...) at warning */
	(void)setenv("TSS2_LOG", "all+none", 0);
	(void)m2m_log_from_env();	/* M2MTOKEN_LOG_LEVEL=debug */
	/* M2M_TEST_FILTER=test_pin*: run only the matching tests */
	if (getenv("M2M_TEST_FILTER") != NULL)
		cmocka_set_test_filter(getenv("M2M_TEST_FILTER"));
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
