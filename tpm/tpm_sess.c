/*
 * m2mtoken: the TPM backend's salted HMAC session, run through tss2-sys
 * (SAPI): every command that needs a session (TPM2_HMAC, the HMAC
 * sequences, Create, Unseal, EncryptDecrypt2, GetRandom) is sent through
 * it.  See tpm_int.h for the interface.
 *
 * Why not an ESAPI session: libtss2-esys 3.2 (Debian 12) makes a new
 * OpenSSL library context for every hash, HMAC and KDF of a session (7 per
 * TPM2_HMAC), and with OpenSSL 3.0 the first fetch in a new context costs
 * about a millisecond (bench/README.md).  Here the same session protocol
 * runs on a digest, an HMAC and a cipher fetched once.  The protection is
 * the ESAPI session's (TPM 2.0 Library, Part 1, sections 19.6, 21 and 24):
 *
 *   salt        = KDFe(SHA-256, Z, "SECRET", Qe.x, Qs.x, 256), Z the ECDH
 *                 of a fresh P-256 key with the storage primary's key Qs;
 *                 the TPM gets Qe only.  Unbound session.
 *   sessionKey  = KDFa(SHA-256, salt, "ATH", nonceTPM, nonceCaller, 256)
 *   sessionValue = sessionKey || authValue of the handle authorised (just
 *                 sessionKey for a command with no handle: GetRandom)
 *   command:  cpHash = H(commandCode || handle's name || cpParams), and
 *             HMAC(sessionValue, cpHash || nonceCaller || nonceTPM || attrs)
 *   response: rpHash = H(0 || commandCode || rpParams), the TPM's HMAC
 *             (nonces the other way) checked in constant time before any
 *             response byte is used
 *   parameters: the first parameter in (key bytes, message) and out (MAC,
 *             unsealed data, random bytes), AES-128-CFB with key and IV
 *             from KDFa(SHA-256, sessionValue, "CFB", nonceNewer,
 *             nonceOlder, 256); cpHash and rpHash cover the ciphertext.
 *
 * A fresh nonceCaller per command.  After any failure once a command was
 * sent the session's nonces are in doubt: it is flushed and a new one is
 * started at the next use (but a command the TPM did not start, RETRY, is
 * sent again with the same session).  The SAPI context's buffers, which
 * hold the parameters in clear, are wiped after every command.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_sys.h>

#include "err.h"
#include "log.h"
#include "secret.h"
#include "tpm_int.h"

#define SHA256_LEN	32
#define P256_LEN	32
#define CFB_KEY_LEN	16	/* AES-128 */
#define CFB_IV_LEN	16

/* Local failures, as the ESAPI layer's codes (tpm_err.c maps them). */
#define RC_MEMORY	TSS2_ESYS_RC_MEMORY
#define RC_CRYPTO	TSS2_ESYS_RC_GENERAL_FAILURE
#define RC_BAD_RSP	TSS2_ESYS_RC_MALFORMED_RESPONSE
#define RC_RSP_AUTH	TSS2_ESYS_RC_RSP_AUTH_FAILED

struct tpm_sess {
	TSS2_TCTI_CONTEXT	*tcti;
	TSS2_SYS_CONTEXT	*sys;
	size_t			 syslen;
	EVP_MD			*sha256;
	EVP_MAC_CTX		*mac;	/* HMAC-SHA-256, no key: duplicated */
	EVP_CIPHER		*cfb;	/* AES-128-CFB */
	EVP_CIPHER_CTX		*cctx;
	TPMI_SH_AUTH_SESSION	 handle; /* 0: no session */
	int			 loaded; /* else saved in ctx */
	TPMS_CONTEXT		 ctx;
	struct m2m_secret	*key;	/* sessionKey */
	TPM2B_NONCE		 nonce_tpm;
};

/* One piece of a hash or HMAC input. */
struct piece {
	const void	*p;
	size_t		 len;
};

/*
 * HMAC-SHA-256 in a copy of the keyless context, freed (and so cleansed)
 * at once: no keyed state outlives the call.
 */
static int
hmac(struct tpm_sess *s, const uint8_t *key, size_t keylen,
    const struct piece *v, size_t n, uint8_t out[SHA256_LEN])
{
	EVP_MAC_CTX *c;
	size_t i, olen = 0;
	int ok;

	if ((c = EVP_MAC_CTX_dup(s->mac)) == NULL)
		return -1;
	ok = EVP_MAC_init(c, key, keylen, NULL) == 1;
	for (i = 0; ok && i < n; i++)
		ok = EVP_MAC_update(c, v[i].p, v[i].len) == 1;
	ok = ok && EVP_MAC_final(c, out, &olen, SHA256_LEN) == 1 &&
	    olen == SHA256_LEN;
	EVP_MAC_CTX_free(c);
	return ok ? 0 : -1;
}

static int
digest(struct tpm_sess *s, const struct piece *v, size_t n,
    uint8_t out[SHA256_LEN])
{
	EVP_MD_CTX *c;
	unsigned int olen = 0;
	size_t i;
	int ok;

	if ((c = EVP_MD_CTX_new()) == NULL)
		return -1;
	ok = EVP_DigestInit_ex(c, s->sha256, NULL) == 1;
	for (i = 0; ok && i < n; i++)
		ok = EVP_DigestUpdate(c, v[i].p, v[i].len) == 1;
	ok = ok && EVP_DigestFinal_ex(c, out, &olen) == 1 &&
	    olen == SHA256_LEN;
	EVP_MD_CTX_free(c);
	return ok ? 0 : -1;
}

static void
be32(uint8_t b[4], uint32_t v)
{
	b[0] = (uint8_t)(v >> 24);
	b[1] = (uint8_t)(v >> 16);
	b[2] = (uint8_t)(v >> 8);
	b[3] = (uint8_t)v;
}

/*
 * KDFa (Part 1, 11.4.10.2) for one block: out = HMAC(key, [1] || label ||
 * 0 || u || v || [256]), the 256 bits every use here needs.
 */
static int
kdfa(struct tpm_sess *s, const uint8_t *key, size_t keylen,
    const char *label, const TPM2B_NONCE *u, const TPM2B_NONCE *v,
    uint8_t out[SHA256_LEN])
{
	uint8_t ctr[4], bits[4];
	struct piece p[5];

	be32(ctr, 1);
	be32(bits, SHA256_LEN * 8);
	p[0] = (struct piece){ ctr, 4 };
	p[1] = (struct piece){ label, strlen(label) + 1 };	/* with NUL */
	p[2] = (struct piece){ u->buffer, u->size };
	p[3] = (struct piece){ v->buffer, v->size };
	p[4] = (struct piece){ bits, 4 };
	return hmac(s, key, keylen, p, 5, out);
}

/* AES-128-CFB of in[0..len) with key || iv = kiv; out may be in. */
static int
cfb(struct tpm_sess *s, int enc, const uint8_t kiv[SHA256_LEN],
    const uint8_t *in, size_t len, uint8_t *out)
{
	int n = 0, fin = 0, ok;

	if (len == 0)
		return 0;
	ok = len <= INT32_MAX &&
	    EVP_CipherInit_ex2(s->cctx, s->cfb, kiv, kiv + CFB_KEY_LEN, enc,
	    NULL) == 1 &&
	    EVP_CipherUpdate(s->cctx, out, &n, in, (int)len) == 1 &&
	    EVP_CipherFinal_ex(s->cctx, out + n, &fin) == 1 &&
	    (size_t)n + (size_t)fin == len;
	(void)EVP_CIPHER_CTX_reset(s->cctx);	/* cleanses the key schedule */
	return ok ? 0 : -1;
}

/* see tpm_int.h */
int
m2m_tpm_sess_new(TSS2_TCTI_CONTEXT *tcti, struct tpm_sess **ret)
{
	TSS2_ABI_VERSION abi = TSS2_ABI_VERSION_CURRENT;
	struct tpm_sess *s;
	OSSL_PARAM par[2];
	size_t size;
	int r = M2M_ERR_NO_MEMORY;

	*ret = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return M2M_ERR_NO_MEMORY;
	size = Tss2_Sys_GetContextSize(0);
	s->tcti = tcti;
	s->syslen = size;
	if ((s->sys = calloc(1, size)) == NULL ||
	    (r = m2m_secret_new(SHA256_LEN, &s->key)) != 0)
		goto fail;
	r = M2M_ERR_INTERNAL;
	if (Tss2_Sys_Initialize(s->sys, size, tcti, &abi) !=
	    TSS2_RC_SUCCESS) {
		free(s->sys);
		s->sys = NULL;
		goto fail;
	}
	par[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    (char *)"SHA2-256", 0);
	par[1] = OSSL_PARAM_construct_end();
	{
		EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);

		if (m != NULL && (s->mac = EVP_MAC_CTX_new(m)) != NULL &&
		    EVP_MAC_CTX_set_params(s->mac, par) != 1) {
			EVP_MAC_CTX_free(s->mac);
			s->mac = NULL;
		}
		EVP_MAC_free(m);	/* the context keeps its reference */
	}
	if (s->mac == NULL ||
	    (s->sha256 = EVP_MD_fetch(NULL, "SHA2-256", NULL)) == NULL ||
	    (s->cfb = EVP_CIPHER_fetch(NULL, "AES-128-CFB", NULL)) == NULL ||
	    (s->cctx = EVP_CIPHER_CTX_new()) == NULL)
		goto fail;
	*ret = s;
	return 0;
 fail:
	m2m_tpm_sess_free(s);
	return r;
}

/* see tpm_int.h */
void
m2m_tpm_sess_free(struct tpm_sess *s)
{
	if (s == NULL)
		return;
	if (s->sys != NULL) {
		Tss2_Sys_Finalize(s->sys);
		m2m_wipe(s->sys, s->syslen);
		free(s->sys);
	}
	EVP_MAC_CTX_free(s->mac);
	EVP_MD_free(s->sha256);
	EVP_CIPHER_free(s->cfb);
	EVP_CIPHER_CTX_free(s->cctx);
	m2m_secret_free(s->key);
	m2m_wipe(s, sizeof(*s));
	free(s);
}

/* see tpm_int.h */
int
m2m_tpm_sess_state(const struct tpm_sess *s)
{
	if (s->handle == 0)
		return TPM_SESS_NONE;
	return s->loaded ? TPM_SESS_LOADED : TPM_SESS_SAVED;
}

/* see tpm_int.h */
void
m2m_tpm_sess_forget(struct tpm_sess *s)
{
	TSS2_RC rc;

	if (s->handle != 0) {
		/* a saved session context is flushed by its handle too */
		if ((rc = Tss2_Sys_FlushContext(s->sys, s->handle)) !=
		    TSS2_RC_SUCCESS)
			m2m_debug("tpm: FlushContext (HMAC session): %s",
			    Tss2_RC_Decode(rc));
	}
	s->handle = 0;
	s->loaded = 0;
	memset(&s->ctx, 0, sizeof(s->ctx));
	memset(&s->nonce_tpm, 0, sizeof(s->nonce_tpm));
	m2m_wipe(m2m_secret_data(s->key), SHA256_LEN);
}

/* see tpm_int.h */
TSS2_RC
m2m_tpm_sess_load(struct tpm_sess *s)
{
	TPMI_DH_CONTEXT h = 0;
	TSS2_RC rc;

	if (s->handle == 0 || s->loaded)
		return TSS2_RC_SUCCESS;
	if ((rc = Tss2_Sys_ContextLoad(s->sys, &s->ctx, &h)) !=
	    TSS2_RC_SUCCESS)
		return rc;	/* still saved: a retry may load it */
	if (h != s->handle) {
		m2m_error("tpm: HMAC session came back as 0x%08x, not 0x%08x",
		    (unsigned)h, (unsigned)s->handle);
		s->handle = h;
		m2m_tpm_sess_forget(s);
		return RC_BAD_RSP;
	}
	s->loaded = 1;
	return TSS2_RC_SUCCESS;
}

/*
 * The ephemeral half of the salt exchange: a fresh P-256 key, Qe into pt,
 * and Z = x(d_e * Qs) into z.
 */
static int
ecdh(const TPMS_ECC_POINT *qs, TPMS_ECC_POINT *pt, uint8_t z[P256_LEN])
{
	uint8_t enc[1 + 2 * P256_LEN], peer[1 + 2 * P256_LEN];
	EVP_PKEY_CTX *pc = NULL, *dc = NULL;
	EVP_PKEY *eph = NULL, *qsk = NULL;
	OSSL_PARAM par[3];
	size_t len, zlen = P256_LEN;
	int r = -1;

	if (qs->x.size == 0 || qs->x.size > P256_LEN || qs->y.size == 0 ||
	    qs->y.size > P256_LEN)
		return -1;
	memset(peer, 0, sizeof(peer));
	peer[0] = 0x04;	/* uncompressed */
	memcpy(peer + 1 + P256_LEN - qs->x.size, qs->x.buffer, qs->x.size);
	memcpy(peer + 1 + 2 * P256_LEN - qs->y.size, qs->y.buffer,
	    qs->y.size);
	par[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
	    (char *)"P-256", 0);
	par[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
	    peer, sizeof(peer));
	par[2] = OSSL_PARAM_construct_end();
	if ((pc = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(pc) != 1 ||
	    EVP_PKEY_fromdata(pc, &qsk, EVP_PKEY_PUBLIC_KEY, par) != 1 ||
	    (eph = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL ||
	    EVP_PKEY_get_octet_string_param(eph,
	    OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, enc, sizeof(enc), &len) != 1 ||
	    len != sizeof(enc) || enc[0] != 0x04 ||
	    (dc = EVP_PKEY_CTX_new_from_pkey(NULL, eph, NULL)) == NULL ||
	    EVP_PKEY_derive_init(dc) != 1 ||
	    EVP_PKEY_derive_set_peer_ex(dc, qsk, 1) != 1 ||
	    EVP_PKEY_derive(dc, z, &zlen) != 1 || zlen != P256_LEN)
		goto out;
	memset(pt, 0, sizeof(*pt));
	pt->x.size = pt->y.size = P256_LEN;
	memcpy(pt->x.buffer, enc + 1, P256_LEN);
	memcpy(pt->y.buffer, enc + 1 + P256_LEN, P256_LEN);
	r = 0;
 out:
	EVP_PKEY_CTX_free(pc);
	EVP_PKEY_CTX_free(dc);
	EVP_PKEY_free(eph);	/* frees (and clears) the private scalar */
	EVP_PKEY_free(qsk);
	return r;
}

/* see tpm_int.h */
TSS2_RC
m2m_tpm_sess_start(struct tpm_sess *s, TPM2_HANDLE tpmkey,
    const TPMT_PUBLIC *pub)
{
	TPM2B_ENCRYPTED_SECRET esalt;
	TPM2B_NONCE caller, tpm;
	TPMT_SYM_DEF sym;
	TPMS_ECC_POINT qe;
	TPMI_SH_AUTH_SESSION h = 0;
	uint8_t z[P256_LEN], salt[SHA256_LEN], ctr[4];
	struct piece p[5];
	size_t off = 0;
	TSS2_RC rc;

	if (s->handle != 0)
		m2m_tpm_sess_forget(s);
	if (pub->type != TPM2_ALG_ECC || pub->nameAlg != TPM2_ALG_SHA256 ||
	    pub->parameters.eccDetail.curveID != TPM2_ECC_NIST_P256)
		return TSS2_ESYS_RC_BAD_VALUE;
	memset(&esalt, 0, sizeof(esalt));
	memset(&sym, 0, sizeof(sym));
	if (ecdh(&pub->unique.ecc, &qe, z) != 0) {
		m2m_error("tpm: session: ECDH with the storage key failed");
		rc = RC_CRYPTO;
		goto out;
	}
	/* KDFe (Part 1, 11.4.10.3), one block: 256 bits of salt */
	be32(ctr, 1);
	p[0] = (struct piece){ ctr, 4 };
	p[1] = (struct piece){ z, P256_LEN };
	p[2] = (struct piece){ "SECRET", sizeof("SECRET") };	/* with NUL */
	p[3] = (struct piece){ qe.x.buffer, qe.x.size };
	p[4] = (struct piece){ pub->unique.ecc.x.buffer,
	    pub->unique.ecc.x.size };
	if (digest(s, p, 5, salt) != 0 ||
	    Tss2_MU_TPMS_ECC_POINT_Marshal(&qe, esalt.secret,
	    sizeof(esalt.secret), &off) != TSS2_RC_SUCCESS) {
		rc = RC_CRYPTO;
		goto out;
	}
	esalt.size = (UINT16)off;
	caller.size = SHA256_LEN;
	if (RAND_bytes(caller.buffer, SHA256_LEN) != 1) {
		rc = RC_CRYPTO;
		goto out;
	}
	sym.algorithm = TPM2_ALG_AES;
	sym.keyBits.aes = 128;
	sym.mode.aes = TPM2_ALG_CFB;
	memset(&tpm, 0, sizeof(tpm));
	rc = Tss2_Sys_StartAuthSession(s->sys, tpmkey, TPM2_RH_NULL, NULL,
	    &caller, &esalt, TPM2_SE_HMAC, &sym, TPM2_ALG_SHA256, &h, &tpm,
	    NULL);
	if (rc != TSS2_RC_SUCCESS)
		goto out;
	s->handle = h;
	s->loaded = 1;
	if (tpm.size < 16 || tpm.size > sizeof(tpm.buffer) ||
	    kdfa(s, salt, sizeof(salt), "ATH", &tpm, &caller,
	    m2m_secret_data(s->key)) != 0) {
		m2m_tpm_sess_forget(s);
		rc = tpm.size < 16 ? RC_BAD_RSP : RC_CRYPTO;
		goto out;
	}
	s->nonce_tpm = tpm;
	rc = TSS2_RC_SUCCESS;
 out:
	m2m_wipe(z, sizeof(z));
	m2m_wipe(salt, sizeof(salt));
	return rc;
}

/* see tpm_int.h */
TSS2_SYS_CONTEXT *
m2m_tpm_sess_sys(struct tpm_sess *s)
{
	return s->sys;
}

/* see tpm_int.h */
void
m2m_tpm_sess_clean(struct tpm_sess *s)
{
	TSS2_ABI_VERSION abi = TSS2_ABI_VERSION_CURRENT;

	/* the command and response buffers live in the context */
	Tss2_Sys_Finalize(s->sys);
	m2m_wipe(s->sys, s->syslen);
	if (Tss2_Sys_Initialize(s->sys, s->syslen, s->tcti, &abi) !=
	    TSS2_RC_SUCCESS)
		m2m_error("tpm: cannot reset the session's SAPI context");
}

/*
 * Replace the first parameter's bytes in the command (in, encrypt) or the
 * response (out, decrypt) by their AES-128-CFB transform under KDFa(
 * sessionValue, "CFB", newer, older).
 */
static TSS2_RC
crypt_param(struct tpm_sess *s, int out, const uint8_t *sv, size_t svlen,
    const TPM2B_NONCE *newer, const TPM2B_NONCE *older)
{
	uint8_t tmp[TPM_SESS_PARAM_MAX], kiv[SHA256_LEN];
	const uint8_t *p = NULL;
	size_t len = 0;
	TSS2_RC rc;

	rc = out ? Tss2_Sys_GetEncryptParam(s->sys, &len, &p) :
	    Tss2_Sys_GetDecryptParam(s->sys, &len, &p);
	if (rc != TSS2_RC_SUCCESS)
		return rc;
	if (len == 0)
		return TSS2_RC_SUCCESS;
	if (len > sizeof(tmp))
		return out ? RC_BAD_RSP : TSS2_ESYS_RC_BAD_VALUE;
	if (kdfa(s, sv, svlen, "CFB", newer, older, kiv) != 0 ||
	    cfb(s, !out, kiv, p, len, tmp) != 0)
		rc = RC_CRYPTO;
	else
		rc = out ? Tss2_Sys_SetEncryptParam(s->sys, len, tmp) :
		    Tss2_Sys_SetDecryptParam(s->sys, len, tmp);
	m2m_wipe(tmp, len);
	m2m_wipe(kiv, sizeof(kiv));
	return rc;
}

/* see tpm_int.h */
TSS2_RC
m2m_tpm_sess_run(struct tpm_sess *s, TPM2_CC cc, const TPM2B_NAME *name,
    const TPM2B_AUTH *auth, int flags)
{
	TSS2L_SYS_AUTH_COMMAND cmd;
	TSS2L_SYS_AUTH_RESPONSE rsp;
	TPM2B_NONCE caller;
	TPMS_AUTH_RESPONSE *ra;
	uint8_t sv[SHA256_LEN + sizeof(auth->buffer)];
	uint8_t cp_hash[SHA256_LEN], rp_hash[SHA256_LEN], mac[SHA256_LEN];
	uint8_t ccb[4], zero[4] = { 0, 0, 0, 0 }, attrs;
	const uint8_t *cp, *rp;
	size_t cplen, rplen, svlen = SHA256_LEN;
	struct piece p[5];
	size_t np = 0;
	TSS2_RC rc;

	if (s->handle == 0 || !s->loaded ||
	    (auth != NULL && auth->size > sizeof(auth->buffer)))
		return TSS2_ESYS_RC_BAD_VALUE;
	attrs = TPMA_SESSION_CONTINUESESSION |
	    (flags & TPM_SESS_IN ? TPMA_SESSION_DECRYPT : 0) |
	    (flags & TPM_SESS_OUT ? TPMA_SESSION_ENCRYPT : 0);
	memset(&cmd, 0, sizeof(cmd));
	memset(&rsp, 0, sizeof(rsp));
	/* sessionValue: the authValue only for an authorised handle */
	memcpy(sv, m2m_secret_data(s->key), SHA256_LEN);
	if (name != NULL && auth != NULL) {
		memcpy(sv + SHA256_LEN, auth->buffer, auth->size);
		svlen += auth->size;
	}
	be32(ccb, cc);
	caller.size = SHA256_LEN;
	if (RAND_bytes(caller.buffer, SHA256_LEN) != 1) {
		rc = RC_CRYPTO;
		goto out;	/* nothing sent: the session is intact */
	}
	if ((flags & TPM_SESS_IN) && (rc = crypt_param(s, 0, sv, svlen,
	    &caller, &s->nonce_tpm)) != TSS2_RC_SUCCESS)
		goto out;
	if ((rc = Tss2_Sys_GetCpBuffer(s->sys, &cplen, &cp)) !=
	    TSS2_RC_SUCCESS)
		goto out;
	p[np++] = (struct piece){ ccb, 4 };
	if (name != NULL)
		p[np++] = (struct piece){ name->name, name->size };
	p[np++] = (struct piece){ cp, cplen };
	if (digest(s, p, np, cp_hash) != 0) {
		rc = RC_CRYPTO;
		goto out;
	}
	p[0] = (struct piece){ cp_hash, SHA256_LEN };
	p[1] = (struct piece){ caller.buffer, caller.size };
	p[2] = (struct piece){ s->nonce_tpm.buffer, s->nonce_tpm.size };
	p[3] = (struct piece){ &attrs, 1 };
	cmd.count = 1;
	cmd.auths[0].sessionHandle = s->handle;
	cmd.auths[0].nonce = caller;
	cmd.auths[0].sessionAttributes = attrs;
	cmd.auths[0].hmac.size = SHA256_LEN;
	if (hmac(s, sv, svlen, p, 4, cmd.auths[0].hmac.buffer) != 0) {
		rc = RC_CRYPTO;
		goto out;
	}
	if ((rc = Tss2_Sys_SetCmdAuths(s->sys, &cmd)) != TSS2_RC_SUCCESS)
		goto out;

	/* sent: from here on a failure ends the session */
	if ((rc = Tss2_Sys_Execute(s->sys)) != TSS2_RC_SUCCESS) {
		if (m2m_tpm_rc_retry(rc))
			goto out;	/* not started: the session is intact */
		goto dead;
	}
	if ((rc = Tss2_Sys_GetRspAuths(s->sys, &rsp)) != TSS2_RC_SUCCESS ||
	    (rc = Tss2_Sys_GetRpBuffer(s->sys, &rplen, &rp)) !=
	    TSS2_RC_SUCCESS)
		goto dead;
	ra = &rsp.auths[0];
	if (rsp.count != 1 || ra->nonce.size < 16 ||
	    ra->hmac.size != SHA256_LEN ||
	    (ra->sessionAttributes & attrs) != attrs) {
		rc = RC_BAD_RSP;
		goto dead;
	}
	p[0] = (struct piece){ zero, 4 };	/* responseCode: success */
	p[1] = (struct piece){ ccb, 4 };
	p[2] = (struct piece){ rp, rplen };
	if (digest(s, p, 3, rp_hash) != 0) {
		rc = RC_CRYPTO;
		goto dead;
	}
	p[0] = (struct piece){ rp_hash, SHA256_LEN };
	p[1] = (struct piece){ ra->nonce.buffer, ra->nonce.size };
	p[2] = (struct piece){ caller.buffer, caller.size };
	p[3] = (struct piece){ &ra->sessionAttributes, 1 };
	if (hmac(s, sv, svlen, p, 4, mac) != 0) {
		rc = RC_CRYPTO;
		goto dead;
	}
	if (CRYPTO_memcmp(mac, ra->hmac.buffer, SHA256_LEN) != 0) {
		m2m_error("tpm: the response's authorisation is wrong: not "
		    "from the TPM, or changed on the way; discarded");
		rc = RC_RSP_AUTH;
		goto dead;
	}
	s->nonce_tpm = ra->nonce;
	if ((flags & TPM_SESS_OUT) && (rc = crypt_param(s, 1, sv, svlen,
	    &s->nonce_tpm, &caller)) != TSS2_RC_SUCCESS)
		goto out;	/* the session is in step */
	rc = TSS2_RC_SUCCESS;
	goto out;
 dead:
	m2m_tpm_sess_forget(s);
 out:
	m2m_wipe(sv, sizeof(sv));
	m2m_wipe(&cmd, sizeof(cmd));
	m2m_wipe(mac, sizeof(mac));
	return rc;
}
