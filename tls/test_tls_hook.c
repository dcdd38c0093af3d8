/*
 * test_tls_hook: the server's unknown-identity hook (m2m_tls_opts
 * unknown_psk).  Real TLS 1.2 handshakes over a BIO pair, the token at the
 * server end and the raw PSK in OpenSSL at the client end, with a server
 * whose token does not know the client's identity:
 *   - the hook imports a KPSA labelled with the identity (C_CreateObject,
 *     in this process; then in a forked child that initialises the module
 *     itself, as m2mtokend would in its own process): the handshake
 *     completes with that key and equal exports; the next handshake finds
 *     the key without asking the hook;
 *   - the hook refuses: the handshake fails, nothing is stored;
 *   - the hook says yes but stores nothing, a key of another label, a key
 *     whose role cannot key TLS, an expired key, or another value: the
 *     handshake fails after exactly one more lookup (the hook is asked
 *     once per handshake);
 *   - an identity with a control character never reaches the hook;
 *   - no hook: refused as before; a hook on a client context: refused.
 * Run as "run_c.sh hsm|tpm test_tls_hook".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <m2mtoken/tls.h>
#include "tls_int.h"
#include "tls_pair.h"

#define SNI	"gw.example.com"
#define CIPHER	"PSK-AES128-CBC-SHA256"
#define TOKEN	"m2m-tlsh"
#define PIN	"1234"

static int failures;

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "FAIL %s:%d: %s\n", \
	__FILE__, __LINE__, #c); failures++; } } while (0)

static CK_FUNCTION_LIST_PTR f;
static CK_SLOT_ID slot;
static CK_SESSION_HANDLE sess;

/* the raw PSK of the client (32 bytes, like a Kpsa) */
static uint8_t raw_psk[32];

enum hook_mode {
	H_IMPORT,		/* import the client's PSK as KPSA, say yes */
	H_IMPORT_CHILD,		/* the same from a forked child process */
	H_REFUSE,		/* say no */
	H_YES_NOTHING,		/* say yes, store nothing */
	H_OTHER_LABEL,		/* store the PSK under another label */
	H_WRONG_ROLE,		/* store it as a KE (no PSK role) */
	H_EXPIRED,		/* store it already expired */
	H_OTHER_VALUE		/* store another value under the label */
};

static struct {
	enum hook_mode	mode;
	int		calls;
	int		bad_args;
	char		last[300];
} hook;

static void
psk_of(int n, uint8_t out[32])
{
	int i;

	for (i = 0; i < 32; i++)
		out[i] = (uint8_t)(n * 32 + i);
}

/* An m2m:timestamp (UTC) delta seconds from now. */
static void
stamp(long delta, char out[32])
{
	time_t when = time(NULL) + delta;
	struct tm tm;

	gmtime_r(&when, &tm);
	strftime(out, 32, "%Y%m%dT%H%M%S", &tm);
}

static CK_RV
create_key(CK_SESSION_HANDLE s, const char *label, CK_ULONG role,
    const uint8_t *v, size_t len, const char *expires)
{
	return m2m_p11_import_psk(f, s, label, role, v, len, expires);
}

/* The import of the hook from another process, initialising the module
   itself: 0 when it stored the key. */
static int
import_in_child(const char *label)
{
	CK_SESSION_HANDLE s;
	pid_t pid;
	int st = 0;

	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		if (f->C_Initialize(NULL) != CKR_OK ||
		    f->C_OpenSession(slot, CKF_SERIAL_SESSION |
		    CKF_RW_SESSION, NULL, NULL, &s) != CKR_OK ||
		    f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)PIN,
		    strlen(PIN)) != CKR_OK ||
		    create_key(s, label, CK_M2M_ROLE_KPSA, raw_psk,
		    sizeof(raw_psk), NULL) != CKR_OK)
			_exit(1);
		f->C_Finalize(NULL);
		_exit(0);
	}
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 0)
		return -1;
	return 0;
}

static int
unknown_psk(void *arg, SSL *ssl, const char *identity, size_t len)
{
	uint8_t other[32];
	char exp[32];
	int r = 0;

	hook.calls++;
	if (arg != &hook || ssl == NULL || identity == NULL ||
	    len != strlen(identity) || len >= sizeof(hook.last))
		hook.bad_args++;
	else
		memcpy(hook.last, identity, len + 1);
	switch (hook.mode) {
	case H_IMPORT:
		r = create_key(sess, identity, CK_M2M_ROLE_KPSA, raw_psk,
		    sizeof(raw_psk), NULL) == CKR_OK ? 0 : -1;
		break;
	case H_IMPORT_CHILD:
		r = import_in_child(identity);
		break;
	case H_REFUSE:
		r = -7;
		break;
	case H_YES_NOTHING:
		break;
	case H_OTHER_LABEL:
		(void)create_key(sess, "other@mef.example.com",
		    CK_M2M_ROLE_KPSA, raw_psk, sizeof(raw_psk), NULL);
		break;
	case H_WRONG_ROLE:
		(void)create_key(sess, identity, CK_M2M_ROLE_KE, raw_psk,
		    sizeof(raw_psk), NULL);
		break;
	case H_EXPIRED:
		stamp(-3600, exp);
		(void)create_key(sess, identity, CK_M2M_ROLE_KPSA, raw_psk,
		    sizeof(raw_psk), exp);
		break;
	case H_OTHER_VALUE:
		psk_of(99, other);
		(void)create_key(sess, identity, CK_M2M_ROLE_KPSA, other,
		    sizeof(other), NULL);
		break;
	}
	return r;
}

/* Objects labelled label in the token (any class, any role). */
static int
count_labelled(const char *label)
{
	CK_ATTRIBUTE t = { CKA_LABEL, (CK_VOID_PTR)label, strlen(label) };
	CK_OBJECT_HANDLE h[16];
	CK_ULONG n = 0;

	if (f->C_FindObjectsInit(sess, &t, 1) != CKR_OK)
		return -1;
	if (f->C_FindObjects(sess, h, 16, &n) != CKR_OK)
		n = 999;
	f->C_FindObjectsFinal(sess);
	return (int)n;
}

static void
destroy_labelled(const char *label)
{
	CK_ATTRIBUTE t = { CKA_LABEL, (CK_VOID_PTR)label, strlen(label) };
	CK_OBJECT_HANDLE h[16];
	CK_ULONG n = 0, i;

	if (f->C_FindObjectsInit(sess, &t, 1) != CKR_OK)
		return;
	(void)f->C_FindObjects(sess, h, 16, &n);
	f->C_FindObjectsFinal(sess);
	for (i = 0; i < n; i++)
		CHECK(f->C_DestroyObject(sess, h[i]) == CKR_OK);
}

/* One handshake, raw client -> token server, identity id; 1 when both
   ends finish and export the same keying material. */
static int
handshake(SSL_CTX *rc, SSL_CTX *ts, const char *id)
{
	uint8_t ec[M2M_TLS_EXPORT_LEN], es[M2M_TLS_EXPORT_LEN];
	SSL *c, *s;
	int ok;

	tp_cfg.id = id;
	if (tp_handshake(rc, ts, &c, &s) != 0) {
		ERR_clear_error();
		return 0;
	}
	ok = m2m_tls_export_ke(c, ec) == 0 && m2m_tls_export_ke(s, es) == 0 &&
	    memcmp(ec, es, sizeof(ec)) == 0;
	ERR_clear_error();
	SSL_free(c);
	SSL_free(s);
	return ok;
}

static SSL_CTX *
server_ctx(void)
{
	struct m2m_tls_opts o;
	SSL_CTX *c = NULL;

	memset(&o, 0, sizeof(o));
	o.token_label = TOKEN;
	o.pin = PIN;
	o.role = M2M_TLS_SERVER;
	o.sni = SNI;
	o.ciphers = CIPHER;
	o.unknown_psk = unknown_psk;
	o.unknown_psk_arg = &hook;
	return m2m_tls_ctx_new(&o, &c) == 0 ? c : NULL;
}

/* A handshake with identity id that the hook, in mode, must not let
   through; the hook is asked once, and afterwards no PSK answers to id
   (with absent; an expired key still answers, and the token refuses it). */
static void
refused(SSL_CTX *rc, SSL_CTX *ts, enum hook_mode mode, const char *id,
    int absent)
{
	CK_OBJECT_HANDLE h;

	hook.mode = mode;
	hook.calls = 0;
	CHECK(!handshake(rc, ts, id));
	CHECK(hook.calls == 1);
	CHECK(strcmp(hook.last, id) == 0);
	CHECK(m2m_p11_find_psk(f, sess, (const uint8_t *)id, strlen(id),
	    &h) == (absent ? CKR_KEY_HANDLE_INVALID : CKR_OK));
}

int
main(void)
{
	static const char *const ids[] = {
		"00112233445566778899aabbccddeeff@mef.example.com",
		"0123456789abcdef0123456789abcdef@mef.example.com",
	};
	SSL_CTX *ts = NULL, *bare = NULL, *rc = NULL, *cc = NULL;
	struct m2m_tls_opts o;
	const char *id;

	if ((f = m2m_p11_load(NULL)) == NULL ||
	    m2m_p11_find_token(f, TOKEN, 1, "5678", PIN, &slot) != CKR_OK ||
	    f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL,
	    NULL, &sess) != CKR_OK ||
	    f->C_Login(sess, CKU_USER, (CK_UTF8CHAR_PTR)PIN, strlen(PIN)) !=
	    CKR_OK) {
		fprintf(stderr, "FAIL: token setup\n");
		return 1;
	}
	psk_of(1, raw_psk);
	tp_cfg.psk = raw_psk;
	tp_cfg.psklen = sizeof(raw_psk);
	tp_cfg.cipher = CIPHER;
	tp_cfg.token = TOKEN;
	tp_cfg.pin = PIN;
	tp_cfg.sni = SNI;
	tp_cfg.id = ids[0];
	if ((ts = server_ctx()) == NULL || (bare = tp_token_ctx(1)) == NULL ||
	    (rc = tp_raw_ctx(0)) == NULL) {
		fprintf(stderr, "FAIL: SSL_CTX setup\n");
		return 1;
	}

	/* a hook on a client: refused */
	memset(&o, 0, sizeof(o));
	o.token_label = TOKEN;
	o.pin = PIN;
	o.role = M2M_TLS_CLIENT;
	o.sni = SNI;
	o.identity = ids[0];
	o.unknown_psk = unknown_psk;
	CHECK(m2m_tls_ctx_new(&o, &cc) == M2M_TLS_ERR_ARG && cc == NULL);

	/* no hook: an unknown identity is refused, as it always was */
	CHECK(!handshake(rc, bare, ids[0]));
	CHECK(hook.calls == 0);
	printf("%s: no hook: unknown identity refused\n",
	    failures ? "FAIL" : "ok");

	/* the hook refuses, or says yes without a usable key: refused,
	   each after one question, nothing left behind */
	id = ids[0];
	refused(rc, ts, H_REFUSE, id, 1);
	CHECK(count_labelled(id) == 0);
	refused(rc, ts, H_YES_NOTHING, id, 1);
	CHECK(count_labelled(id) == 0);
	refused(rc, ts, H_OTHER_LABEL, id, 1);
	destroy_labelled("other@mef.example.com");
	refused(rc, ts, H_WRONG_ROLE, id, 1);
	destroy_labelled(id);
	refused(rc, ts, H_EXPIRED, id, 0);
	destroy_labelled(id);
	hook.mode = H_OTHER_VALUE;
	hook.calls = 0;
	CHECK(!handshake(rc, ts, id));	/* the key is found, but differs */
	CHECK(hook.calls == 1);
	destroy_labelled(id);
	CHECK(hook.bad_args == 0);
	printf("%s: hook refuses, or stores nothing usable: handshake "
	    "refused after one question\n", failures ? "FAIL" : "ok");

	/* an identity with a control character never reaches the hook */
	hook.mode = H_IMPORT;
	hook.calls = 0;
	CHECK(!handshake(rc, ts, "bad\x01id@mef.example.com"));
	CHECK(!handshake(rc, ts, "bad\x7fid@mef.example.com"));
	CHECK(hook.calls == 0);
	CHECK(count_labelled("bad\x01id@mef.example.com") == 0);
	printf("%s: identity with control characters: hook not asked\n",
	    failures ? "FAIL" : "ok");

	/* the hook imports the key: the handshake completes with it; the
	   next handshake finds it without the hook */
	hook.mode = H_IMPORT;
	hook.calls = 0;
	CHECK(handshake(rc, ts, id));
	CHECK(hook.calls == 1);
	CHECK(count_labelled(id) == 1);
	CHECK(handshake(rc, ts, id));
	CHECK(hook.calls == 1);
	CHECK(handshake(rc, bare, id));	/* any context sees it now */
	psk_of(2, raw_psk);		/* a client with another PSK: no */
	CHECK(!handshake(rc, ts, id));
	CHECK(hook.calls == 1);
	psk_of(1, raw_psk);
	/* destroyed: asked again (the cache does not hide it) */
	destroy_labelled(id);
	CHECK(handshake(rc, ts, id));
	CHECK(hook.calls == 2);
	printf("%s: hook imports the key: handshake completes, asked once "
	    "per missing key\n", failures ? "FAIL" : "ok");

	/* the import made by another process (as m2mtokend would) */
	id = ids[1];
	hook.mode = H_IMPORT_CHILD;
	hook.calls = 0;
	psk_of(3, raw_psk);
	CHECK(handshake(rc, ts, id));
	CHECK(hook.calls == 1);
	CHECK(count_labelled(id) == 1);
	CHECK(handshake(rc, ts, id));
	CHECK(hook.calls == 1);
	CHECK(hook.bad_args == 0);
	printf("%s: key imported by another process: handshake completes\n",
	    failures ? "FAIL" : "ok");

	m2m_tls_ctx_free(ts);
	m2m_tls_ctx_free(bare);
	SSL_CTX_free(rc);
	f->C_CloseSession(sess);
	m2m_p11_unload();
	return failures ? 1 : 0;
}
