/*
 * libm2mtoken-client (see include/m2mtoken/client.h): the flow IPC for
 * programs, over daemon/common's framing.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <m2mtoken/client.h>

#include "errors.h"
#include "ipc.h"
#include "text.h"

struct m2m_client {
	int			 fd;
	int			 timeout_ms;
	struct m2m_ipc_reader	*rd;
};

/* see client.h */
const char *
m2m_client_strerror(int r)
{
	switch (r) {
	case M2M_CLIENT_OK:		return "success";
	case M2M_CLIENT_ERR_ARG:	return "invalid argument";
	case M2M_CLIENT_ERR_CONNECT:
		return "cannot connect to m2mtokend (is it running? is the "
		    "socket path right? may this user open it?)";
	case M2M_CLIENT_ERR_IO:		return "the connection to m2mtokend "
					    "broke";
	case M2M_CLIENT_ERR_TIMEOUT:	return "m2mtokend did not answer in "
					    "time";
	case M2M_CLIENT_ERR_PROTOCOL:	return "m2mtokend's reply is "
					    "malformed";
	case M2M_CLIENT_ERR_NOMEM:	return "out of memory";
	case M2M_CLIENT_ERR_REMOTE:	return "m2mtokend refused the call";
	default:			return "unknown error";
	}
}

/* see client.h */
int
m2m_client_connect(const char *path, int timeout_ms, struct m2m_client **ret)
{
	struct sockaddr_un sun;
	struct m2m_client *c;
	int e;

	if (ret == NULL)
		return M2M_CLIENT_ERR_ARG;
	if (path == NULL)
		path = getenv("M2MTOKEN_SOCKET");
	if (path == NULL || *path == '\0')
		path = M2M_CLIENT_SOCKET_DEFAULT;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		return M2M_CLIENT_ERR_ARG;
	memcpy(sun.sun_path, path, strlen(path));
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return M2M_CLIENT_ERR_NOMEM;
	c->timeout_ms = timeout_ms > 0 ? timeout_ms :
	    M2M_CLIENT_TIMEOUT_DEFAULT;
	if (m2m_ipc_reader_new(M2M_IPC_REPLIES, &c->rd) != 0) {
		free(c);
		return M2M_CLIENT_ERR_NOMEM;
	}
	if ((c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(c->fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		e = errno;
		if (c->fd != -1)
			close(c->fd);
		m2m_ipc_reader_free(c->rd);
		free(c);
		errno = e;
		return M2M_CLIENT_ERR_CONNECT;
	}
	*ret = c;
	return 0;
}

/* see client.h */
void
m2m_client_close(struct m2m_client *c)
{
	if (c == NULL)
		return;
	if (c->fd != -1)
		close(c->fd);
	m2m_ipc_reader_free(c->rd);
	free(c);
}

/*
 * A string member of an error reply into dst, for the caller to print:
 * the bytes are whatever the socket's owner sent.  Control characters
 * (C0, DEL, and C1: U+0080..U+009F, "c2 9b" is CSI) become '?', other
 * UTF-8 is kept (a label in another script stays readable), and a long
 * string is cut between characters: dst stays valid UTF-8.
 */
static void
copy_str(char *dst, size_t cap, struct json_object *o, const char *k)
{
	struct json_object *v;

	dst[0] = '\0';
	if (o != NULL && json_object_object_get_ex(o, k, &v) &&
	    json_object_is_type(v, json_type_string))
		m2m_text_copy(dst, cap, json_object_get_string(v), 0);
}

/*
 * After a call that did not end with one whole reply (timeout, broken or
 * malformed stream), a late reply would be read as the next call's: the
 * connection is closed, and every later call on c is M2M_CLIENT_ERR_IO.
 */
static void
client_broken(struct m2m_client *c)
{
	if (c->fd != -1) {
		close(c->fd);
		c->fd = -1;
	}
}

/*
 * r, once c is closed if r is M2M_CLIENT_ERR_PROTOCOL (client.h): a whole
 * reply that is not what the method answers (a member missing or of the
 * wrong type, a VerifyMic without "valid": true) comes from a peer that
 * is not the daemon or not in step with it; nothing more is read from it.
 */
static int
client_result(struct m2m_client *c, int r)
{
	if (r == M2M_CLIENT_ERR_PROTOCOL && c != NULL)
		client_broken(c);
	return r;
}

/* One call with a json-c params object; the reply's parameters, owned. */
static int
call_obj(struct m2m_client *c, const char *method, struct json_object *params,
    struct json_object **ret_reply, struct m2m_client_error *err)
{
	struct m2m_ipc_msg *msg = NULL;
	char *buf = NULL;
	size_t len = 0;
	int r;

	if (err != NULL)
		memset(err, 0, sizeof(*err));
	if (c == NULL || method == NULL)
		return M2M_CLIENT_ERR_ARG;
	if (c->fd == -1)
		return M2M_CLIENT_ERR_IO;
	if ((r = m2m_ipc_encode_call(method, params, &buf, &len)) != 0) {
		r = r == M2M_IPC_ERR_NO_MEMORY ? M2M_CLIENT_ERR_NOMEM :
		    M2M_CLIENT_ERR_ARG;
		goto out;
	}
	if ((r = m2m_ipc_send_all(c->fd, buf, len, c->timeout_ms)) != 0 ||
	    (r = m2m_ipc_recv(c->rd, c->fd, c->timeout_ms, &msg)) != 0) {
		r = r == M2M_IPC_ERR_TIMEOUT ? M2M_CLIENT_ERR_TIMEOUT :
		    r == M2M_IPC_ERR_IO || r == M2M_IPC_ERR_EOF ||
		    r == M2M_IPC_ERR_TRUNCATED ? M2M_CLIENT_ERR_IO :
		    r == M2M_IPC_ERR_NO_MEMORY ? M2M_CLIENT_ERR_NOMEM :
		    M2M_CLIENT_ERR_PROTOCOL;
		client_broken(c);
		goto out;
	}
	if (m2m_ipc_msg_error(msg) != NULL) {
		if (err != NULL) {
			snprintf(err->name, sizeof(err->name), "%s",
			    m2m_ipc_msg_error(msg));
			copy_str(err->reason, sizeof(err->reason),
			    m2m_ipc_msg_parameters(msg), "reason");
			copy_str(err->detail, sizeof(err->detail),
			    m2m_ipc_msg_parameters(msg), "detail");
		}
		r = M2M_CLIENT_ERR_REMOTE;
		goto out;
	}
	/* the caller's from now: out of the tree wiped below */
	if (ret_reply != NULL)
		*ret_reply = m2m_ipc_msg_take_parameters(msg);
	r = 0;
 out:
	/* a frame, either way, may hold a plaintext (Seal, Open) */
	m2m_ipc_msg_free(msg);
	if (buf != NULL)
		OPENSSL_cleanse(buf, len);
	free(buf);
	return r;
}

/* see client.h */
int
m2m_client_call(struct m2m_client *c, const char *method,
    const char *params_json, char **ret_reply_json,
    struct m2m_client_error *err)
{
	struct json_object *p = NULL, *reply = NULL;
	struct json_tokener *tok = NULL;
	size_t len, slen;
	char *s = NULL;
	int r;

	if (err != NULL)
		memset(err, 0, sizeof(*err));
	if (params_json != NULL) {
		/*
		 * As json_tokener_parse(), with a tokener whose buffer is
		 * wiped: the text may hold a plaintext (the CLI's Seal).
		 */
		len = strlen(params_json);
		if ((tok = m2m_json_tokener_new(JSON_TOKENER_DEFAULT_DEPTH,
		    len)) == NULL)
			return M2M_CLIENT_ERR_NOMEM;
		p = json_tokener_parse_ex(tok, params_json, (int)len);
		if (p == NULL &&
		    json_tokener_get_error(tok) == json_tokener_continue)
			p = json_tokener_parse_ex(tok, "", 1);
		if (json_tokener_get_error(tok) != json_tokener_success ||
		    p == NULL || !json_object_is_type(p, json_type_object)) {
			m2m_json_put_wiped(p);
			m2m_json_tokener_free(tok);
			return M2M_CLIENT_ERR_ARG;
		}
		m2m_json_tokener_free(tok);
	}
	if ((r = call_obj(c, method, p, &reply, err)) != 0)
		goto out;
	if (ret_reply_json != NULL) {
		/* not json-c's text: it leaves copies in memory freed */
		if (m2m_json_text(reply, 0, SIZE_MAX, &s, &slen) != 0) {
			r = M2M_CLIENT_ERR_NOMEM;
			goto out;
		}
		*ret_reply_json = s;
	}
	r = 0;
 out:
	m2m_json_put_wiped(p);
	m2m_json_put_wiped(reply);
	return r;
}

/* A new params object with the given string members (NULL values skipped). */
static struct json_object *
params_of(const char *k1, const char *v1, const char *k2, const char *v2)
{
	struct json_object *p = json_object_new_object();

	if (p == NULL)
		return NULL;
	if (k1 != NULL && v1 != NULL)
		json_object_object_add(p, k1, json_object_new_string(v1));
	if (k2 != NULL && v2 != NULL)
		json_object_object_add(p, k2, json_object_new_string(v2));
	return p;
}

static int
add_b64(struct json_object *p, const char *k, const uint8_t *v, size_t n)
{
	char *s;
	int r;

	if ((s = malloc((n + 2) / 3 * 4 + 1)) == NULL)
		return M2M_CLIENT_ERR_NOMEM;
	EVP_EncodeBlock((unsigned char *)s, v, (int)n);
	r = json_object_object_add(p, k, json_object_new_string(s)) == 0 ?
	    0 : M2M_CLIENT_ERR_NOMEM;
	/* it may be a plaintext (Seal) */
	OPENSSL_cleanse(s, (n + 2) / 3 * 4 + 1);
	free(s);
	return r;
}

/* A base64 member of the reply, decoded into a new buffer. */
static int
get_b64(struct json_object *reply, const char *k, uint8_t **ret,
    size_t *ret_len)
{
	struct json_object *v;
	const char *s;
	uint8_t *b;
	size_t n, pad = 0;
	int d;

	if (!json_object_object_get_ex(reply, k, &v) ||
	    !json_object_is_type(v, json_type_string))
		return M2M_CLIENT_ERR_PROTOCOL;
	s = json_object_get_string(v);
	n = strlen(s);
	if (n % 4 != 0)
		return M2M_CLIENT_ERR_PROTOCOL;
	if (n > 0 && s[n - 1] == '=')
		pad++;
	if (n > 1 && s[n - 2] == '=')
		pad++;
	if ((b = malloc(n / 4 * 3 + 1)) == NULL)
		return M2M_CLIENT_ERR_NOMEM;
	d = EVP_DecodeBlock(b, (const unsigned char *)s, (int)n);
	if (d < 0 || (size_t)d != n / 4 * 3) {
		OPENSSL_cleanse(b, n / 4 * 3 + 1);
		free(b);
		return M2M_CLIENT_ERR_PROTOCOL;
	}
	*ret = b;
	*ret_len = n / 4 * 3 - pad;
	return 0;
}

static int
get_str(struct json_object *reply, const char *k, char **ret)
{
	struct json_object *v;

	if (!json_object_object_get_ex(reply, k, &v) ||
	    !json_object_is_type(v, json_type_string))
		return M2M_CLIENT_ERR_PROTOCOL;
	if ((*ret = strdup(json_object_get_string(v))) == NULL)
		return M2M_CLIENT_ERR_NOMEM;
	return 0;
}

/* see client.h */
int
m2m_client_status(struct m2m_client *c, char **ret_json,
    struct m2m_client_error *err)
{
	return m2m_client_call(c, "io.m2mtoken.Status", NULL, ret_json, err);
}

/* see client.h */
int
m2m_client_bootstrap(struct m2m_client *c, const char *const *targets,
    size_t n, char **ret_keid, struct m2m_client_error *err)
{
	struct json_object *p = NULL, *a = NULL, *reply = NULL;
	size_t i;
	int r = M2M_CLIENT_ERR_NOMEM;

	if (targets == NULL || n == 0 || ret_keid == NULL)
		return M2M_CLIENT_ERR_ARG;
	if ((p = json_object_new_object()) == NULL ||
	    (a = json_object_new_array()) == NULL)
		goto out;
	for (i = 0; i < n; i++)
		if (targets[i] == NULL || json_object_array_add(a,
		    json_object_new_string(targets[i])) != 0)
			goto out;
	json_object_object_add(p, "targets", a);
	a = NULL;	/* transferred */
	if ((r = call_obj(c, "io.m2mtoken.Bootstrap", p, &reply, err)) != 0)
		goto out;
	r = get_str(reply, "keId", ret_keid);
 out:
	json_object_put(a);
	json_object_put(p);
	json_object_put(reply);
	return client_result(c, r);
}

/* see client.h */
int
m2m_client_derive_kpsa(struct m2m_client *c, const char *keid,
    const char *target, char **ret_label, struct m2m_client_error *err)
{
	struct json_object *p, *reply = NULL;
	int r;

	if (keid == NULL || target == NULL || ret_label == NULL)
		return M2M_CLIENT_ERR_ARG;
	if ((p = params_of("key", keid, "target", target)) == NULL)
		return M2M_CLIENT_ERR_NOMEM;
	if ((r = call_obj(c, "io.m2mtoken.DeriveKpsa", p, &reply, err)) == 0)
		r = get_str(reply, "key", ret_label);
	json_object_put(p);
	json_object_put(reply);
	return client_result(c, r);
}

/* see client.h */
int
m2m_client_fetch_credentials(struct m2m_client *c, const char *keid,
    int suid, char **ret_label, struct m2m_client_error *err)
{
	struct json_object *p, *reply = NULL;
	int r;

	if (keid == NULL || ret_label == NULL)
		return M2M_CLIENT_ERR_ARG;
	if ((p = params_of("key", keid, NULL, NULL)) == NULL)
		return M2M_CLIENT_ERR_NOMEM;
	if (suid >= 0)
		json_object_object_add(p, "suid", json_object_new_int(suid));
	if ((r = call_obj(c, "io.m2mtoken.FetchCredentials", p, &reply,
	    err)) == 0)
		r = get_str(reply, "key", ret_label);
	json_object_put(p);
	json_object_put(reply);
	return client_result(c, r);
}

/* see client.h */
int
m2m_client_provision_e2e(struct m2m_client *c, const char *key,
    const char *role, const uint8_t *salt, size_t salt_len, const char *hash,
    char **ret_e2e_key_id, struct m2m_client_error *err)
{
	struct json_object *p, *reply = NULL;
	int r;

	if (key == NULL || ret_e2e_key_id == NULL)
		return M2M_CLIENT_ERR_ARG;
	if ((p = params_of("key", key, "role", role)) == NULL)
		return M2M_CLIENT_ERR_NOMEM;
	if (hash != NULL)
		json_object_object_add(p, "hash", json_object_new_string(hash));
	if (salt != NULL && (r = add_b64(p, "salt", salt, salt_len)) != 0)
		goto out;
	if ((r = call_obj(c, "io.m2mtoken.ProvisionEndToEnd", p, &reply,
	    err)) == 0)
		r = get_str(reply, "e2eKeyId", ret_e2e_key_id);
 out:
	json_object_put(p);
	json_object_put(reply);
	return client_result(c, r);
}

/* see client.h */
int
m2m_client_mic(struct m2m_client *c, const char *e2e_key_id, int attribute,
    const uint8_t *data, size_t len, uint8_t mic[64], size_t *mic_len,
    struct m2m_client_error *err)
{
	struct json_object *p, *reply = NULL;
	uint8_t *m = NULL;
	size_t ml = 0;
	int r;

	if (e2e_key_id == NULL || (data == NULL && len > 0) || mic == NULL ||
	    mic_len == NULL)
		return M2M_CLIENT_ERR_ARG;
	if ((p = params_of("key", e2e_key_id, "use", attribute ?
	    "attribute" : "message")) == NULL)
		return M2M_CLIENT_ERR_NOMEM;
	if ((r = add_b64(p, "data", data, len)) != 0 ||
	    (r = call_obj(c, "io.m2mtoken.Mic", p, &reply, err)) != 0 ||
	    (r = get_b64(reply, "mic", &m, &ml)) != 0)
		goto out;
	if (ml > 64) {
		r = M2M_CLIENT_ERR_PROTOCOL;
		goto out;
	}
	memcpy(mic, m, ml);
	*mic_len = ml;
 out:
	free(m);
	json_object_put(p);
	json_object_put(reply);
	return client_result(c, r);
}

/* see client.h */
int
m2m_client_verify_mic(struct m2m_client *c, const char *e2e_key_id,
    int attribute, const uint8_t *data, size_t len, const uint8_t *mic,
    size_t mic_len, struct m2m_client_error *err)
{
	struct json_object *p, *reply = NULL, *v;
	int r;

	if (e2e_key_id == NULL || (data == NULL && len > 0) || mic == NULL)
		return M2M_CLIENT_ERR_ARG;
	if ((p = params_of("key", e2e_key_id, "use", attribute ?
	    "attribute" : "message")) == NULL)
		return M2M_CLIENT_ERR_NOMEM;
	if ((r = add_b64(p, "data", data, len)) == 0 &&
	    (r = add_b64(p, "mic", mic, mic_len)) == 0 &&
	    (r = call_obj(c, "io.m2mtoken.VerifyMic", p, &reply, err)) == 0 &&
	    !(json_object_object_get_ex(reply, "valid", &v) &&
	    json_object_is_type(v, json_type_boolean) &&
	    json_object_get_boolean(v)))
		/* valid only when the daemon says so, in so many words */
		r = M2M_CLIENT_ERR_PROTOCOL;
	json_object_put(p);
	json_object_put(reply);
	return client_result(c, r);
}

/* see client.h */
int
m2m_client_seal(struct m2m_client *c, const char *e2e_key_id, int attribute,
    const uint8_t *aad, size_t aad_len, const uint8_t *pt, size_t pt_len,
    uint8_t iv[12], uint8_t **ret_ct, size_t *ret_ct_len,
    struct m2m_client_error *err)
{
	struct json_object *p, *reply = NULL;
	uint8_t *ivb = NULL, *ct = NULL;
	size_t ivl = 0, ctl = 0;
	int r;

	if (e2e_key_id == NULL || (pt == NULL && pt_len > 0) || iv == NULL ||
	    ret_ct == NULL || ret_ct_len == NULL)
		return M2M_CLIENT_ERR_ARG;
	if ((p = params_of("key", e2e_key_id, "use", attribute ?
	    "attribute" : "message")) == NULL)
		return M2M_CLIENT_ERR_NOMEM;
	if ((r = add_b64(p, "plaintext", pt, pt_len)) != 0 ||
	    (aad != NULL && (r = add_b64(p, "aad", aad, aad_len)) != 0) ||
	    (r = call_obj(c, "io.m2mtoken.Seal", p, &reply, err)) != 0 ||
	    (r = get_b64(reply, "iv", &ivb, &ivl)) != 0 ||
	    (r = get_b64(reply, "ciphertext", &ct, &ctl)) != 0)
		goto out;
	if (ivl != 12) {
		r = M2M_CLIENT_ERR_PROTOCOL;
		goto out;
	}
	memcpy(iv, ivb, 12);
	*ret_ct = ct;
	ct = NULL;	/* transferred */
	*ret_ct_len = ctl;
 out:
	free(ivb);
	free(ct);
	/* the request held the plaintext */
	m2m_json_put_wiped(p);
	json_object_put(reply);
	return client_result(c, r);
}

/* see client.h */
int
m2m_client_open(struct m2m_client *c, const char *e2e_key_id, int attribute,
    const uint8_t *aad, size_t aad_len, const uint8_t iv[12],
    const uint8_t *ct, size_t ct_len, uint8_t **ret_pt, size_t *ret_pt_len,
    struct m2m_client_error *err)
{
	struct json_object *p, *reply = NULL;
	int r;

	if (e2e_key_id == NULL || ct == NULL || iv == NULL ||
	    ret_pt == NULL || ret_pt_len == NULL)
		return M2M_CLIENT_ERR_ARG;
	if ((p = params_of("key", e2e_key_id, "use", attribute ?
	    "attribute" : "message")) == NULL)
		return M2M_CLIENT_ERR_NOMEM;
	if ((r = add_b64(p, "iv", iv, 12)) != 0 ||
	    (r = add_b64(p, "ciphertext", ct, ct_len)) != 0 ||
	    (aad != NULL && (r = add_b64(p, "aad", aad, aad_len)) != 0) ||
	    (r = call_obj(c, "io.m2mtoken.Open", p, &reply, err)) != 0)
		goto out;
	r = get_b64(reply, "plaintext", ret_pt, ret_pt_len);
 out:
	json_object_put(p);
	/* the reply held the plaintext */
	m2m_json_put_wiped(reply);
	return client_result(c, r);
}
