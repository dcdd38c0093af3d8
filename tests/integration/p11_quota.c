/*
 * p11_quota: [token] max_objects, the most token objects one token may
 * hold (here 3; docs/operations.md), and [token] max_bytes, the most
 * bytes their rows may take (here 12288).  With the token full, every call
 * that would make a token object answers CKR_DEVICE_MEMORY and stores
 * nothing: C_CreateObject (a data object, a secret key), C_CopyObject
 * (token to token, session to token), C_GenerateKey, C_GenerateKeyPair,
 * C_DeriveKey (the oneM2M derivations from a Ke, the E2E master and its
 * expansion); C_UnwrapKey makes no object at all.  Session objects are
 * still made.  A key pair with room for one half stores neither; with
 * one half a session object it is made.  Another token of the same store
 * is not affected.  The module logs that the token is full, naming it
 * and the limit, at most once a second (local mode: this process's
 * stderr; client mode: the daemon's log, where the worker's stderr
 * goes).  HSM backend in local mode: the backing token holds no more
 * token objects after the refusals than before (no wrapped key left in
 * the HSM either).  A third token of data objects with a 4 KiB CKA_VALUE
 * is full at two of them by its bytes, not its objects: the third big one
 * is refused with CKR_DEVICE_MEMORY, a small one still made, a deletion
 * makes room, a C_SetAttributeValue that would grow a label past the
 * limit is refused and changes nothing; the line names max_bytes.  In
 * client mode (clientmode.quota.*) the same calls go through m2mtokend,
 * whose store every client's tokens share.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <unistd.h>

#include "p11client.h"

#define TOKEN		"quota"
#define TOKEN_B		"quota-b"
#define TOKEN_C		"quota-c"
#define MAXOBJ		3
#define MAXBYTES	12288	/* two 4 KiB data objects, not three */
#define KEID		"000102030405060708090a0b0c0d0e0f@mef.example.com"

static CK_SESSION_HANDLE S;
static CK_SLOT_ID SLOT;
static CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
static unsigned int refusals;	/* CKR_DEVICE_MEMORY answers expected */

/* P-256's OID */
static const uint8_t P256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d,
    0x03, 0x01, 0x07 };

/* Token objects the session sees. */
static CK_ULONG
token_count(CK_SESSION_HANDLE s)
{
	CK_ATTRIBUTE t[] = { { CKA_TOKEN, &yes, 1 } };

	return p11c_find(s, t, 1, NULL, 0);
}

static CK_RV
data_object(CK_SESSION_HANDLE s, CK_BBOOL tok, const char *label,
    CK_OBJECT_HANDLE *h)
{
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_ATTRIBUTE t[] = { { CKA_CLASS, &cls, sizeof(cls) },
	    { CKA_TOKEN, &tok, 1 }, { CKA_LABEL, (void *)label,
	    strlen(label) }, { CKA_VALUE, "quota", 5 } };

	*h = CK_INVALID_HANDLE;
	return F->C_CreateObject(s, t, 4, h);
}

static CK_RV
aes_gen(CK_SESSION_HANDLE s, CK_BBOOL tok, CK_OBJECT_HANDLE *h)
{
	CK_ULONG len = 32;
	CK_ATTRIBUTE t[] = { { CKA_TOKEN, &tok, 1 },
	    { CKA_VALUE_LEN, &len, sizeof(len) } };
	CK_MECHANISM m = { CKM_AES_KEY_GEN, NULL, 0 };

	*h = CK_INVALID_HANDLE;
	return F->C_GenerateKey(s, &m, t, 2, h);
}

static CK_RV
ec_pair(CK_SESSION_HANDLE s, CK_BBOOL pubtok, CK_BBOOL privtok,
    CK_OBJECT_HANDLE *pub, CK_OBJECT_HANDLE *priv)
{
	CK_MECHANISM m = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_ATTRIBUTE pubt[] = { { CKA_EC_PARAMS, (void *)P256, sizeof(P256) },
	    { CKA_TOKEN, &pubtok, 1 }, { CKA_VERIFY, &yes, 1 },
	    { CKA_LABEL, "pair", 4 } };
	CK_ATTRIBUTE privt[] = { { CKA_TOKEN, &privtok, 1 },
	    { CKA_SIGN, &yes, 1 }, { CKA_LABEL, "pair", 4 } };

	*pub = *priv = CK_INVALID_HANDLE;
	return F->C_GenerateKeyPair(s, &m, pubt, 4, privt, 3, pub, priv);
}

/*
 * A refused call: CKR_DEVICE_MEMORY, no handle in *h (nor in *h2 when
 * not NULL: a pair), no new token object.  Handles are read here, after
 * the call that wrote them.
 */
static void
refused(CK_RV rv, const CK_OBJECT_HANDLE *h, const CK_OBJECT_HANDLE *h2,
    const char *what)
{
	CK_ULONG n = token_count(S);

	refusals++;
	CHECK_RV(rv, CKR_DEVICE_MEMORY, "full token: %s", what);
	CHECK(*h == CK_INVALID_HANDLE && (h2 == NULL ||
	    *h2 == CK_INVALID_HANDLE) && n == MAXOBJ, "full token: %s: no "
	    "handle, still %d token objects (%lu)", what, MAXOBJ, n);
}

/*
 * The HSM backend's SoftHSM2, seen from this process (local mode: the
 * backend's instance, logged in, so private objects are seen too): the
 * number of token objects of the backing token, or -1 when it cannot be
 * looked at (client mode: the HSM is the daemon worker's; the TPM).
 */
static long
backing_token_objects(void)
{
	static CK_FUNCTION_LIST_PTR sh;
	static CK_SESSION_HANDLE shs;
	CK_ATTRIBUTE t[] = { { CKA_TOKEN, &yes, 1 } };
	CK_OBJECT_HANDLE found[256];
	CK_ULONG n = 0;

	if (strcmp(p11c_backend, "hsm") != 0 ||
	    getenv("M2MTOKEN_DAEMON_SOCKET") != NULL)
		return -1;
	if (sh == NULL)
		p11c_backing_open(&sh, &shs);
	P11C_MUST(sh->C_FindObjectsInit(shs, t, 1));
	P11C_MUST(sh->C_FindObjects(shs, found, 256, &n));
	P11C_MUST(sh->C_FindObjectsFinal(shs));
	return (long)n;
}

/*
 * The module's lines: local mode, this process's stderr, which main()
 * sends to a file first; client mode, the daemon's log.
 */
static char stderr_path[4096];
static int stderr_saved = -1;

static void
log_capture(void)
{
	const char *tmp = getenv("M2M_TMP");
	int fd;

	if (getenv("M2MTOKEN_DAEMON_SOCKET") != NULL || tmp == NULL)
		return;
	snprintf(stderr_path, sizeof(stderr_path), "%s/quota.stderr", tmp);
	fflush(stderr);
	if ((fd = open(stderr_path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0 ||
	    (stderr_saved = dup(STDERR_FILENO)) < 0 ||
	    dup2(fd, STDERR_FILENO) < 0)
		p11c_bail("cannot send stderr to %s", stderr_path);
	close(fd);
}

/* Lines of the module's log holding text (and show them on stderr). */
static int
log_lines(const char *text)
{
	const char *path = stderr_path[0] != '\0' ? stderr_path :
	    getenv("M2M_MTD_LOG");
	char line[2048];
	FILE *fp;
	int n = 0;

	if (stderr_saved >= 0) {
		fflush(stderr);
		dup2(stderr_saved, STDERR_FILENO);
		close(stderr_saved);
		stderr_saved = -1;
	}
	if (path == NULL || (fp = fopen(path, "r")) == NULL)
		p11c_bail("cannot read the module's log");
	while (fgets(line, sizeof(line), fp) != NULL) {
		if (strstr(line, text) != NULL) {
			n++;
			fprintf(stderr, "%s", line);
		}
	}
	fclose(fp);
	return n;
}

/* The first MAXOBJ token objects: a data object, a generated key, a Ke. */
static CK_OBJECT_HANDLE data_h, aes_h, ke_h;

static void
fill(void)
{
	uint8_t ke[32];

	memset(ke, 0x4b, sizeof(ke));
	CHECK_RV(data_object(S, CK_TRUE, "data", &data_h), CKR_OK,
	    "C_CreateObject: token object 1 (a data object)");
	CHECK_RV(aes_gen(S, CK_TRUE, &aes_h), CKR_OK,
	    "C_GenerateKey: token object 2 (AES)");
	CHECK_RV(p11c_import_ex(S, CK_M2M_ROLE_KE, KEID, CKK_GENERIC_SECRET,
	    ke, sizeof(ke), CK_TRUE, NULL, 0, &ke_h), CKR_OK,
	    "C_CreateObject: token object 3 (a Ke)");
	CHECK(token_count(S) == MAXOBJ, "%d token objects", MAXOBJ);
}

/* With the token full, session objects of every kind are still made. */
static CK_OBJECT_HANDLE sdata_h, kpsa_h, master_h;

static void
session_objects(void)
{
	CK_ATTRIBUTE ses[] = { { CKA_TOKEN, &no, 1 } };
	CK_ATTRIBUTE mt[] = { { CKA_TOKEN, &no, 1 },
	    { CKA_LABEL, "e2e-quota", 9 } };
	CK_MECHANISM km = { CKM_M2M_KPSA_DERIVE, "/quota", 6 };
	CK_OBJECT_HANDLE h, pub, priv;

	CHECK_RV(data_object(S, CK_FALSE, "sdata", &sdata_h), CKR_OK,
	    "full token: C_CreateObject of a session object");
	CHECK_RV(aes_gen(S, CK_FALSE, &h), CKR_OK,
	    "full token: C_GenerateKey of a session key");
	CHECK_RV(ec_pair(S, CK_FALSE, CK_FALSE, &pub, &priv), CKR_OK,
	    "full token: C_GenerateKeyPair of session objects");
	CHECK_RV(F->C_CopyObject(S, data_h, ses, 1, &h), CKR_OK,
	    "full token: C_CopyObject of a token object to the session");
	CHECK_RV(F->C_DeriveKey(S, &km, ke_h, ses, 1, &kpsa_h), CKR_OK,
	    "full token: C_DeriveKey of a session Kpsa from the Ke");
	CHECK_RV(p11c_derive(S, CKM_M2M_E2E_MASTER_SHA256, NULL, 0, kpsa_h,
	    mt, 2, &master_h), CKR_OK,
	    "full token: C_DeriveKey of a session E2E master");
	CHECK(token_count(S) == MAXOBJ, "still %d token objects", MAXOBJ);
}

/* With the token full, every call that would make a token object. */
static void
token_objects_refused(void)
{
	CK_ATTRIBUTE tok[] = { { CKA_TOKEN, &yes, 1 } };
	CK_ATTRIBUTE mt[] = { { CKA_TOKEN, &yes, 1 },
	    { CKA_LABEL, "e2e-token", 9 } };
	CK_MECHANISM wrap = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_AES;
	CK_ATTRIBUTE ut[] = { { CKA_CLASS, &cls, sizeof(cls) },
	    { CKA_KEY_TYPE, &kt, sizeof(kt) }, { CKA_TOKEN, &yes, 1 } };
	CK_M2M_KUC_PARAMS kuc = { 22, (CK_UTF8CHAR_PTR)"in.example.com",
	    14 };
	uint8_t v[32], wrapped[40], n1 = 1;
	CK_OBJECT_HANDLE h, pub, priv;

	memset(v, 0x5c, sizeof(v));
	memset(wrapped, 0xa6, sizeof(wrapped));
	refused(data_object(S, CK_TRUE, "data-4", &h), &h, NULL,
	    "C_CreateObject of a data object");
	refused(p11c_import_ex(S, 0, "secret-4", CKK_GENERIC_SECRET, v,
	    sizeof(v), CK_TRUE, NULL, 0, &h), &h, NULL,
	    "C_CreateObject of a secret key");
	refused(p11c_import_ex(S, CK_M2M_ROLE_KPSA, "kpsa-4",
	    CKK_GENERIC_SECRET, v, sizeof(v), CK_TRUE, NULL, 0, &h), &h, NULL,
	    "C_CreateObject of a Kpsa");
	refused(aes_gen(S, CK_TRUE, &h), &h, NULL, "C_GenerateKey");
	refused(ec_pair(S, CK_TRUE, CK_TRUE, &pub, &priv), &pub, &priv,
	    "C_GenerateKeyPair (both token objects)");
	refused(ec_pair(S, CK_FALSE, CK_TRUE, &pub, &priv), &pub, &priv,
	    "C_GenerateKeyPair (the private key a token object)");
	h = CK_INVALID_HANDLE;
	refused(F->C_CopyObject(S, data_h, NULL, 0, &h), &h, NULL,
	    "C_CopyObject of a token object");
	h = CK_INVALID_HANDLE;
	refused(F->C_CopyObject(S, sdata_h, tok, 1, &h), &h, NULL,
	    "C_CopyObject of a session object to the token");
	refused(p11c_derive(S, CKM_M2M_KM_DERIVE, "maf.example.com", 15,
	    ke_h, tok, 1, &h), &h, NULL, "C_DeriveKey CKM_M2M_KM_DERIVE");
	refused(p11c_derive(S, CKM_M2M_KPSA_DERIVE, "/quota-t", 8, ke_h, tok,
	    1, &h), &h, NULL, "C_DeriveKey CKM_M2M_KPSA_DERIVE");
	refused(p11c_derive(S, CKM_M2M_KUC_DERIVE, &kuc, sizeof(kuc), ke_h,
	    tok, 1, &h), &h, NULL, "C_DeriveKey CKM_M2M_KUC_DERIVE");
	refused(p11c_derive(S, CKM_M2M_E2E_MASTER_SHA256, NULL, 0, kpsa_h, mt,
	    2, &h), &h, NULL, "C_DeriveKey CKM_M2M_E2E_MASTER_SHA256");
	refused(p11c_derive(S, CKM_M2M_E2E_EXPAND, &n1, 1, master_h, tok, 1,
	    &h), &h, NULL, "C_DeriveKey CKM_M2M_E2E_EXPAND");
	/* no unwrapping here: it makes no object, token or session */
	h = CK_INVALID_HANDLE;
	CHECK_RV(F->C_UnwrapKey(S, &wrap, aes_h, wrapped, sizeof(wrapped), ut,
	    3, &h), CKR_MECHANISM_INVALID,
	    "full token: C_UnwrapKey (no unwrapping in this token)");
	CHECK(h == CK_INVALID_HANDLE && token_count(S) == MAXOBJ,
	    "full token: C_UnwrapKey made nothing");
}

/* Room for one: a pair of token objects is refused whole. */
static void
room_for_one(void)
{
	CK_OBJECT_HANDLE pub, priv, h;

	CHECK_RV(F->C_DestroyObject(S, data_h), CKR_OK,
	    "C_DestroyObject of a token object: room for one");
	CHECK_RV(ec_pair(S, CK_TRUE, CK_TRUE, &pub, &priv), CKR_DEVICE_MEMORY,
	    "room for one: C_GenerateKeyPair of two token objects");
	refusals++;
	CHECK(pub == CK_INVALID_HANDLE && priv == CK_INVALID_HANDLE &&
	    token_count(S) == MAXOBJ - 1, "room for one: neither half "
	    "stored (%lu token objects)", token_count(S));
	CHECK_RV(ec_pair(S, CK_FALSE, CK_TRUE, &pub, &priv), CKR_OK,
	    "room for one: C_GenerateKeyPair, the private key on the token");
	CHECK(token_count(S) == MAXOBJ, "full again");
	CHECK_RV(data_object(S, CK_TRUE, "data-5", &h), CKR_DEVICE_MEMORY,
	    "and C_CreateObject refused again");
	refusals++;
}

/* A data object of token s with a CKA_VALUE of CK_M2M_ATTR_MAX_LEN. */
static CK_RV
big_object(CK_SESSION_HANDLE s, const char *label, CK_OBJECT_HANDLE *h)
{
	static uint8_t v[CK_M2M_ATTR_MAX_LEN];
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_ATTRIBUTE t[] = { { CKA_CLASS, &cls, sizeof(cls) },
	    { CKA_TOKEN, &yes, 1 }, { CKA_LABEL, (void *)label,
	    strlen(label) }, { CKA_VALUE, v, sizeof(v) } };

	memset(v, 0x42, sizeof(v));
	*h = CK_INVALID_HANDLE;
	return F->C_CreateObject(s, t, 4, h);
}

/*
 * [token] max_bytes: a token of big data objects is full by its bytes
 * well before its MAXOBJ objects; the calls that would grow it past the
 * limit are refused and store nothing.
 */
static void
full_by_bytes(void)
{
	CK_SLOT_ID slot = p11c_new_token(TOKEN_C);
	CK_SESSION_HANDLE s = p11c_user_session(slot);
	CK_OBJECT_HANDLE h1, h2, h, small;
	char label[4000];
	CK_ATTRIBUTE lt[] = { { CKA_LABEL, label, sizeof(label) } };
	CK_ATTRIBUTE get[] = { { CKA_LABEL, label, sizeof(label) } };

	CHECK_RV(big_object(s, "big-1", &h1), CKR_OK,
	    "token %s: a 4 KiB data object", TOKEN_C);
	CHECK_RV(big_object(s, "big-2", &h2), CKR_OK,
	    "token %s: a second 4 KiB data object", TOKEN_C);
	CHECK_RV(big_object(s, "big-3", &h), CKR_DEVICE_MEMORY,
	    "token %s: a third 4 KiB data object passes max_bytes (%d)",
	    TOKEN_C, MAXBYTES);
	CHECK(h == CK_INVALID_HANDLE && token_count(s) == 2, "token %s: no "
	    "handle, 2 token objects (%lu), below max_objects (%d)", TOKEN_C,
	    token_count(s), MAXOBJ);
	CHECK_RV(data_object(s, CK_TRUE, "small", &small), CKR_OK,
	    "token %s: a small data object still fits", TOKEN_C);
	/* a label of 4000 bytes: its row grows past the limit */
	memset(label, 'L', sizeof(label));
	CHECK_RV(F->C_SetAttributeValue(s, small, lt, 1), CKR_DEVICE_MEMORY,
	    "token %s: C_SetAttributeValue growing a label past max_bytes",
	    TOKEN_C);
	memset(label, 0, sizeof(label));
	get[0].ulValueLen = sizeof(label);
	CHECK_RV(F->C_GetAttributeValue(s, small, get, 1), CKR_OK,
	    "token %s: the label read back", TOKEN_C);
	CHECK(get[0].ulValueLen == 5 && memcmp(label, "small", 5) == 0,
	    "token %s: the refused label change changed nothing", TOKEN_C);
	CHECK_RV(F->C_DestroyObject(s, h1), CKR_OK,
	    "token %s: C_DestroyObject of a 4 KiB data object", TOKEN_C);
	CHECK_RV(big_object(s, "big-4", &h), CKR_OK,
	    "token %s: room for a 4 KiB data object again", TOKEN_C);
	CHECK(token_count(s) == MAXOBJ, "token %s: %d token objects",
	    TOKEN_C, MAXOBJ);
	P11C_MUST(F->C_CloseSession(s));
}

/* Another token of the same store has its own MAXOBJ places. */
static void
other_token(void)
{
	CK_SLOT_ID slot = p11c_new_token(TOKEN_B);
	CK_SESSION_HANDLE s = p11c_user_session(slot);
	CK_OBJECT_HANDLE h;
	char label[16];
	int i;

	for (i = 0; i < MAXOBJ; i++) {
		snprintf(label, sizeof(label), "b-%d", i);
		CHECK_RV(data_object(s, CK_TRUE, label, &h), CKR_OK,
		    "token %s: token object %d of %d", TOKEN_B, i + 1,
		    MAXOBJ);
	}
	CHECK_RV(data_object(s, CK_TRUE, "b-full", &h), CKR_DEVICE_MEMORY,
	    "token %s: and no more", TOKEN_B);
	refusals++;
	CHECK(token_count(s) == MAXOBJ && token_count(S) == MAXOBJ,
	    "each token holds %d", MAXOBJ);
	P11C_MUST(F->C_CloseSession(s));
}

int
main(int argc, char **argv)
{
	char line[128];
	long before, after;
	int n;

	p11c_load(argc, argv);
	log_capture();
	p11c_conf_append("\n[token]\nmax_objects = 3\nmax_bytes = 12288\n");
	S = p11c_setup(TOKEN, &SLOT);
	fill();
	session_objects();
	before = backing_token_objects();
	token_objects_refused();
	after = backing_token_objects();
	if (before >= 0)
		CHECK(after == before, "the backing HSM token holds %ld token "
		    "objects after the refusals, as before (%ld)", after,
		    before);
	else
		p11c_note("the backing HSM is not looked at (%s)",
		    strcmp(p11c_backend, "hsm") != 0 ? "TPM backend" :
		    "client mode: it is the daemon worker's");
	room_for_one();
	other_token();
	full_by_bytes();
	P11C_MUST(F->C_Finalize(NULL));
	snprintf(line, sizeof(line), "token %lu is full: it holds %d objects, "
	    "[token] max_objects is %d", (unsigned long)SLOT, MAXOBJ, MAXOBJ);
	n = log_lines(line);
	CHECK(n >= 1 && (unsigned int)n < refusals, "the log names the token "
	    "and the limit: %d line(s) for %u refusals (at most one a "
	    "second)", n, refusals);
	snprintf(line, sizeof(line), "bytes with the new one, [token] "
	    "max_bytes is %d; the new object is not stored", MAXBYTES);
	n = log_lines(line);
	CHECK(n >= 1, "the log names max_bytes: %d line(s)", n);
	return p11c_finish();
}
