/*
 * m2mtoken TLS: TLS 1.2 / DTLS 1.2 PSK handshakes whose PSK stays in the
 * token (spec/tls-psk-in-token.md).
 *
 * m2m_tls_ctx_new() gives an SSL_CTX of its own OSSL_LIB_CTX, in which a
 * built-in provider "m2mtoken" supplies TLS1-PRF.  The PSK callbacks hand
 * libssl an opaque reference to the key (found by its CKA_LABEL = KpmId,
 * KpsaId, KeId...) and the provider computes the master secret in the token
 * with CKM_M2M_TLS12_PSK_MASTER.  Every other PRF call goes to the default
 * provider.  The PSK itself never enters libssl's memory.
 *
 * Keys are reached only through the PKCS#11 API of the module named by
 * opts->module or $M2MTOKEN_MODULE.
 *
 * Logging: a refused handshake or context is said in one line
 * "m2mtls: ..." on stderr.  $M2MTOKEN_TLS_LOG, read at the first line,
 * sets how much: "off" (nothing), "error" (the default: those lines) or
 * "debug" (also a line per context made).  A refused handshake step also
 * leaves its error on the OpenSSL error stack, whatever the setting.  A
 * server's refusals that a peer without credentials can repeat at will
 * (an unknown PSK identity, another server name) are said at most once a
 * second per reason in the process; the next line says how many were not
 * ("(N more like it not logged)").
 */
#ifndef M2MTOKEN_TLS_H
#define M2MTOKEN_TLS_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/ssl.h>

#ifdef __cplusplus
extern "C" {
#endif

#define M2M_TLS_EXPORT_LEN	48
#define M2M_TLS_EXPORT_LABEL	"EXPORTER-oneM2M-Bootstrap"

enum m2m_tls_role {
	M2M_TLS_CLIENT = 0,
	M2M_TLS_SERVER = 1
};

/*
 * Server only: what to do about a PSK identity for which the token holds
 * no PSK key (no secret key with that CKA_LABEL and a PSK role).  Called
 * from inside libssl's PSK server callback, on the thread running the
 * handshake, with no lock of libm2mtls held; it may block (the handshake
 * waits), and should bound how long.  identity is identity_len bytes (1 to
 * 256, NUL-terminated, no control character: other identities are refused
 * before the hook is asked) exactly as the client sent it: the client is
 * NOT authenticated yet, so the identity is hostile input, and every
 * handshake attempt with a new identity calls the hook again.  ssl is the
 * connection being handshaken (e.g. for its peer address); arg is
 * opts->unknown_psk_arg.
 *
 * Return 0 when the token may now hold a PSK key labelled identity (the
 * hook imported or fetched it, through any PKCS#11 session or process):
 * the lookup is made once more, and the handshake goes on with that key,
 * or fails as before when there still is none.  Any other value refuses
 * the handshake at once, as without a hook.  The hook never sees a key
 * byte from libm2mtls and must not hand any to it: the key is found in
 * the token by its label, with every check of a normal lookup.
 */
typedef int (*m2m_tls_unknown_psk_fn)(void *arg, SSL *ssl,
    const char *identity, size_t identity_len);

struct m2m_tls_opts {
	const char	*module;	/* NULL: $M2MTOKEN_MODULE */
	const char	*token_label;	/* NULL: use slot */
	unsigned long	slot;		/* used when token_label is NULL */
	const char	*pin;		/* user PIN; the caller owns and wipes */
	size_t		pin_len;	/* 0: strlen(pin) */
	enum m2m_tls_role role;
	int		dtls;		/* 0: TLS 1.2, 1: DTLS 1.2 */
	const char	*sni;		/* client: sent always; server: required */
	const char	*ciphers;	/* NULL: see M2M_TLS_CIPHERS_* */
	const char	*identity;	/* client: PSK identity (the key label) */
	m2m_tls_unknown_psk_fn unknown_psk; /* server: NULL refuses an
					   unknown identity; see above */
	void		*unknown_psk_arg; /* passed to unknown_psk */
};

#define M2M_TLS_CIPHERS_TLS	"PSK-AES128-CBC-SHA256:PSK-AES128-GCM-SHA256"
#define M2M_TLS_CIPHERS_DTLS	"PSK-AES128-CCM8"

/* Errors: 0 or one of these (negative). */
#define M2M_TLS_ERR_ARG		(-1)	/* bad or missing option */
#define M2M_TLS_ERR_MODULE	(-2)	/* module cannot be loaded/initialised */
#define M2M_TLS_ERR_TOKEN	(-3)	/* token not found, or login failed */
#define M2M_TLS_ERR_OPENSSL	(-4)	/* libcrypto/libssl failure */
#define M2M_TLS_ERR_NOMEM	(-5)

/*
 * Create an SSL_CTX for a TLS 1.2 (or DTLS 1.2) PSK client or server whose
 * PSK lookups go to the token.  Opens a PKCS#11 session on the token and
 * logs in with opts->pin (not kept).  TLS 1.2 is the maximum version;
 * extended master secret stays on; no resumption (no session cache, no
 * tickets: every handshake asks the token for its key).  On success *ret holds the SSL_CTX,
 * to be released with m2m_tls_ctx_free() (not SSL_CTX_free) after every
 * SSL made from it is freed.  A client SSL gets opts->sni as server name
 * at handshake start unless the caller set one.  Returns 0 or M2M_TLS_ERR_*
 * (and one line on stderr saying why, unless $M2MTOKEN_TLS_LOG=off).
 */
int	m2m_tls_ctx_new(const struct m2m_tls_opts *opts, SSL_CTX **ret);

/* Free an SSL_CTX from m2m_tls_ctx_new() and everything it holds. NULL ok. */
void	m2m_tls_ctx_free(SSL_CTX *ctx);

/*
 * Server: whether the PSK identity the client of ssl sent has no usable PSK
 * key in the token (unknown, unusable, or refused by the unknown-identity
 * hook).  Such a handshake is not refused at once: it goes on with the
 * context's decoy key (random, made in the token with the context, used
 * as a PSK is) and fails where a wrong key fails, when the client's
 * Finished does not verify (alert bad_record_mac), so that the alert does
 * not tell a peer without credentials which identities exist (RFC 4279
 * section 2).  For the server's own log: 1 (the handshake will fail) or 0.
 */
int	m2m_tls_unknown_identity(const SSL *ssl);

/*
 * RFC 5705 export of a finished handshake: label "EXPORTER-oneM2M-Bootstrap",
 * 48 bytes, no context.  out is secret (Ke): the caller wipes it.
 * Returns 0 or M2M_TLS_ERR_OPENSSL.
 */
int	m2m_tls_export_ke(SSL *ssl, uint8_t out[M2M_TLS_EXPORT_LEN]);

/*
 * Certificate contexts (TS-0003 8.3.2.2, the certificate-based bootstrap):
 * TLS 1.2 ECDHE-ECDSA with mutual authentication.  The private key stays
 * in the token: it is loaded by its PKCS#11 URI through libp11's engine
 * ("pkcs11", libengine-pkcs11-openssl), so libssl holds a key whose
 * signatures are C_Sign calls and never the scalar.  The engine is loaded
 * and initialised once per process and never finished (finishing it would
 * C_Finalize the module under its other users).
 */
/*
 * Which certificates of the peer's chain opts->crl_file is checked for
 * (OpenSSL's X509_V_FLAG_CRL_CHECK, and X509_V_FLAG_CRL_CHECK_ALL).
 * Whichever is checked needs a CRL from its issuer in the file, or the
 * handshake fails with "unable to get certificate CRL":
 *   LEAF   the peer's own certificate: the CRL of the CA that issued it.
 *   CHAIN  every certificate of the verified chain up to the root: a
 *          CRL from each CA of the chain, the root's and every
 *          intermediate's (so that an intermediate CA the root revoked
 *          is refused with everything it issued).
 */
enum m2m_tls_crl_check {
	M2M_TLS_CRL_LEAF = 0,
	M2M_TLS_CRL_CHAIN = 1
};

struct m2m_tls_cert_opts {
	const char	*module;	/* NULL: $M2MTOKEN_MODULE */
	const char	*key_uri;	/* "pkcs11:..." of the private key */
	const char	*pin;		/* user PIN; the caller owns and wipes */
	const char	*cert_file;	/* PEM: own certificate (then chain),
					   or the "pkcs11:..." URI of a
					   certificate in the token */
	const char	*ca_file;	/* PEM: the CAs that verify the peer */
	const char	*crl_file;	/* NULL or PEM CRLs of those CAs */
	enum m2m_tls_crl_check crl_check; /* with crl_file (CHAIN needs
					   one); 0: M2M_TLS_CRL_LEAF */
	enum m2m_tls_role role;
	const char	*sni;		/* client: sent, and the name the
					   server's certificate must carry;
					   server: the SNI required */
	const char	*ciphers;	/* NULL: M2M_TLS_CIPHERS_CERT */
};

#define M2M_TLS_CIPHERS_CERT \
	"ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256"

/*
 * Create an SSL_CTX for a TLS 1.2 ECDHE-ECDSA client or server whose
 * private key is the token key at opts->key_uri, whose certificate is
 * opts->cert_file (its public key must be the token key's), and which
 * requires and verifies the peer's certificate against opts->ca_file (and
 * opts->crl_file, when given, as opts->crl_check says; the store is made
 * by m2m_tls_cert_reload_store()).  Extended master secret on; no session
 * tickets; TLS 1.2 only.  Released with SSL_CTX_free().
 * Returns 0 or M2M_TLS_ERR_* (and one line on stderr saying why).
 */
int	m2m_tls_cert_ctx_new(const struct m2m_tls_cert_opts *opts,
	    SSL_CTX **ret);

/* Room for the reason m2m_tls_cert_reload_store() writes. */
#define M2M_TLS_WHY_MAX		512

/*
 * Read opts->ca_file, then opts->crl_file when given (only its CRLs),
 * into a NEW X509_STORE with the CRL flags of opts->crl_check, and, only
 * when all of it was read and every CRL can be used, install it on ctx.
 * Each CRL (of either file, with a CRL file) must have its lastUpdate
 * past and its nextUpdate present and to come; when its issuer is a
 * certificate of ca_file, that CA may sign CRLs and the CRL's signature
 * verifies with its key (the CRL of a CA not in ca_file, an intermediate
 * the peer sends, is verified at each handshake); with CHAIN every CA
 * certificate of ca_file has a CRL it signed.  ctx is a context of
 * m2m_tls_cert_ctx_new() (which makes its own store with this function);
 * the store it had is freed when the new one is installed.  Only opts->ca_file, crl_file and crl_check
 * are used.  On failure ctx keeps the store it had, and why (why_len
 * bytes, e.g. M2M_TLS_WHY_MAX) says which file and why, without a log
 * line; why NULL: that reason is the one "m2mtls:" error line instead.
 * On success *ret_ncrl (when not NULL) is the number of CRLs in the new
 * store.  Returns 0 or M2M_TLS_ERR_*; the OpenSSL error stack is left as
 * it was.
 *
 * libssl looks the context's store up when it verifies a peer: a
 * handshake verified before the call keeps its result (its connection is
 * not affected), a handshake verified after it uses the new store.  Call
 * it only where no handshake on ctx is being verified at the same time
 * (e.g. from a single-threaded event loop's signal callback).
 */
int	m2m_tls_cert_reload_store(SSL_CTX *ctx,
	    const struct m2m_tls_cert_opts *opts, int *ret_ncrl, char *why,
	    size_t why_len);

/* A static description of an M2M_TLS_ERR_* value. */
const char *m2m_tls_strerror(int err);

#ifdef __cplusplus
}
#endif
#endif /* M2MTOKEN_TLS_H */
