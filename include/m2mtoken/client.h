/*
 * libm2mtoken-client: calls to m2mtokend over its Unix socket (the flow
 * IPC of docs/protocol.md).  One connection per struct m2m_client; calls
 * on it are sequential (one thread at a time).  No call sends or returns
 * key material: keys stay in the daemon's token.
 *
 * Every function returns 0 or a negative M2M_CLIENT_ERR_*.  After
 * _TIMEOUT, _IO or _PROTOCOL the connection is closed (a late reply must
 * not answer the next call; a reply that is not the method's, VerifyMic
 * without "valid": true among them, is from a peer not to be trusted):
 * every later call on it is _IO; connect again.  Strings of an error reply have control characters (C0, DEL,
 * and C1: U+0080..U+009F) as '?', other UTF-8 as sent, cut only between
 * characters.  For
 * M2M_CLIENT_ERR_REMOTE the daemon answered an error: *err (when not
 * NULL) holds its name (io.m2mtoken.*), the reason and the detail.
 * Strings and buffers returned through ret_* are malloc'd: free() them.
 */
#ifndef M2MTOKEN_CLIENT_H
#define M2MTOKEN_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define M2M_CLIENT_API	__attribute__((visibility("default")))

#define M2M_CLIENT_SOCKET_DEFAULT	"/run/m2mtoken/m2mtokend.sock"
#define M2M_CLIENT_TIMEOUT_DEFAULT	30000	/* ms, per call */

#define M2M_CLIENT_OK		0
#define M2M_CLIENT_ERR_ARG	(-1)	/* a bad argument */
#define M2M_CLIENT_ERR_CONNECT	(-2)	/* no daemon at the socket */
#define M2M_CLIENT_ERR_IO	(-3)	/* the connection broke */
#define M2M_CLIENT_ERR_TIMEOUT	(-4)	/* no reply in time */
#define M2M_CLIENT_ERR_PROTOCOL	(-5)	/* a malformed reply */
#define M2M_CLIENT_ERR_NOMEM	(-6)
#define M2M_CLIENT_ERR_REMOTE	(-7)	/* the daemon answered an error */

struct m2m_client;

struct m2m_client_error {
	char	name[129];	/* io.m2mtoken.X, "" if none */
	char	reason[256];	/* the daemon's fixed sentence */
	char	detail[256];	/* more, e.g. the MEF's ErrorString; or "" */
};

/*
 * Connects to the daemon at path (NULL: $M2MTOKEN_SOCKET, else
 * M2M_CLIENT_SOCKET_DEFAULT); timeout_ms bounds each call (<= 0: the
 * default).  *ret on success.  M2M_CLIENT_ERR_CONNECT (the errno stays
 * set), _NOMEM, _ARG.
 */
M2M_CLIENT_API int m2m_client_connect(const char *path, int timeout_ms,
    struct m2m_client **ret);

/* Closes and frees c; NULL is fine. */
M2M_CLIENT_API void m2m_client_close(struct m2m_client *c);

/* A static English sentence for an M2M_CLIENT_ERR_*. */
M2M_CLIENT_API const char *m2m_client_strerror(int r);

/*
 * The generic call: method (io.m2mtoken.X) with params_json (a JSON
 * object as text; NULL means {}).  On success *ret_reply_json (may be
 * NULL if unwanted) holds the reply's parameters as a JSON object text.
 */
M2M_CLIENT_API int m2m_client_call(struct m2m_client *c, const char *method,
    const char *params_json, char **ret_reply_json,
    struct m2m_client_error *err);

/* Typed helpers.  key names a key by its label (docs/protocol.md). */

/* Status: its reply as JSON text. */
M2M_CLIENT_API int m2m_client_status(struct m2m_client *c, char **ret_json,
    struct m2m_client_error *err);

/* Bootstrap with the MEF naming n targets: the new KeId. */
M2M_CLIENT_API int m2m_client_bootstrap(struct m2m_client *c,
    const char *const *targets, size_t n, char **ret_keid,
    struct m2m_client_error *err);

/* DeriveKpsa from the Ke labelled keid for target: the Kpsa's label. */
M2M_CLIENT_API int m2m_client_derive_kpsa(struct m2m_client *c,
    const char *keid, const char *target, char **ret_label,
    struct m2m_client_error *err);

/* FetchCredentials for keid (suid < 0: Kpsa, else Kuc): its label. */
M2M_CLIENT_API int m2m_client_fetch_credentials(struct m2m_client *c,
    const char *keid, int suid, char **ret_label,
    struct m2m_client_error *err);

/*
 * ProvisionE2E from the key labelled key of role ("kpsa", "km", "kuc";
 * NULL: any), with salt (NULL: none) and hash ("sha256", "sha512"; NULL:
 * sha256): the E2EKeyId.
 */
M2M_CLIENT_API int m2m_client_provision_e2e(struct m2m_client *c,
    const char *key, const char *role, const uint8_t *salt,
    size_t salt_len, const char *hash, char **ret_e2e_key_id,
    struct m2m_client_error *err);

/*
 * Mic / VerifyMic with the message (attribute = 0) or attribute
 * (attribute = 1) authentication key of the E2E set e2e_key_id.  mic
 * holds 64 bytes; *mic_len is set.  VerifyMic: 0 only if the reply says
 * "valid": true; M2M_CLIENT_ERR_REMOTE with io.m2mtoken.VerificationFailed
 * if the MIC does not match; any other reply is M2M_CLIENT_ERR_PROTOCOL.
 */
M2M_CLIENT_API int m2m_client_mic(struct m2m_client *c,
    const char *e2e_key_id, int attribute, const uint8_t *data, size_t len,
    uint8_t mic[64], size_t *mic_len, struct m2m_client_error *err);
M2M_CLIENT_API int m2m_client_verify_mic(struct m2m_client *c,
    const char *e2e_key_id, int attribute, const uint8_t *data, size_t len,
    const uint8_t *mic, size_t mic_len, struct m2m_client_error *err);

/*
 * Seal / Open (AES-GCM, 12-byte IV chosen by the daemon's token, 16-byte
 * tag at the end of the ciphertext) with the message or attribute
 * confidentiality key of the E2E set.  aad may be NULL.
 */
M2M_CLIENT_API int m2m_client_seal(struct m2m_client *c,
    const char *e2e_key_id, int attribute, const uint8_t *aad,
    size_t aad_len, const uint8_t *pt, size_t pt_len, uint8_t iv[12],
    uint8_t **ret_ct, size_t *ret_ct_len, struct m2m_client_error *err);
M2M_CLIENT_API int m2m_client_open(struct m2m_client *c,
    const char *e2e_key_id, int attribute, const uint8_t *aad,
    size_t aad_len, const uint8_t iv[12], const uint8_t *ct, size_t ct_len,
    uint8_t **ret_pt, size_t *ret_pt_len, struct m2m_client_error *err);

#ifdef __cplusplus
}
#endif
#endif /* M2MTOKEN_CLIENT_H */
