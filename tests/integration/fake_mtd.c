/*
 * fake_mtd: a stand-in for a gateway's m2mtokend in tests of m2m-assoc
 * (test_assoc.sh), speaking the real flow IPC framing (daemon/common).
 *
 *   fake_mtd serve --token LABEL --pin-file F --socket PATH
 *       --value-file V [--refuse ERROR] [--count N]
 *       answer N (default 1) io.m2mtoken.FetchCredentials calls
 *       {"key": K}: import V as the KPSA labelled K and reply {"key": K},
 *       or with --refuse reply the error ERROR; prints "listening" on
 *       stderr when ready and "fetch K" on stdout per call
 *
 * The value stands for what a MEF would deliver; it is read from a file,
 * never argv.  Public PKCS#11 API only.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>

#include <m2mtoken/pkcs11-m2m.h>

#include "ipc.h"

static CK_FUNCTION_LIST_PTR f;
static CK_SESSION_HANDLE sess;

static void
die(const char *msg)
{
	fprintf(stderr, "fake_mtd: %s\n", msg);
	exit(1);
}

static size_t
read_file(const char *path, void *buf, size_t max)
{
	FILE *fp = fopen(path, "rb");
	size_t n;

	if (fp == NULL)
		die("cannot open a file");
	n = fread(buf, 1, max, fp);
	fclose(fp);
	return n;
}

static void
token_open(const char *label, const char *pin)
{
	const char *path = getenv("M2MTOKEN_MODULE");
	const char *so = getenv("M2M_SO_PIN");
	CK_C_GetFunctionList gfl;
	CK_SLOT_ID slots[64], slot = 0;
	CK_ULONG n = 64, i;
	CK_TOKEN_INFO ti;
	CK_UTF8CHAR lab[32];
	size_t ll = strlen(label);
	int found = 0, free_found = 0;
	CK_SLOT_ID free_slot = 0;
	void *dl;

	if (so == NULL || *so == '\0')
		so = "5678";
	if (path == NULL || (dl = dlopen(path, RTLD_NOW)) == NULL)
		die("cannot load the module");
	*(void **)&gfl = dlsym(dl, "C_GetFunctionList");
	if (gfl == NULL || gfl(&f) != CKR_OK || f->C_Initialize(NULL) !=
	    CKR_OK || ll > 32)
		die("cannot initialise the module");
	if (f->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK)
		die("C_GetSlotList");
	memset(lab, ' ', sizeof(lab));
	memcpy(lab, label, ll);
	for (i = 0; i < n && !found; i++) {
		if (f->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		if (!(ti.flags & CKF_TOKEN_INITIALIZED)) {
			if (!free_found) {
				free_slot = slots[i];
				free_found = 1;
			}
			continue;
		}
		if (memcmp(ti.label, lab, 32) == 0) {
			slot = slots[i];
			found = 1;
		}
	}
	if (!found) {
		if (!free_found || f->C_InitToken(free_slot,
		    (CK_UTF8CHAR_PTR)so, strlen(so), lab) != CKR_OK ||
		    f->C_OpenSession(free_slot, CKF_SERIAL_SESSION |
		    CKF_RW_SESSION, NULL, NULL, &sess) != CKR_OK ||
		    f->C_Login(sess, CKU_SO, (CK_UTF8CHAR_PTR)so,
		    strlen(so)) != CKR_OK ||
		    f->C_InitPIN(sess, (CK_UTF8CHAR_PTR)pin, strlen(pin)) !=
		    CKR_OK)
			die("cannot initialise the token");
		f->C_CloseSession(sess);
		slot = free_slot;
	}
	if (f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL,
	    NULL, &sess) != CKR_OK || f->C_Login(sess, CKU_USER,
	    (CK_UTF8CHAR_PTR)pin, strlen(pin)) != CKR_OK)
		die("cannot log in");
}

static CK_RV
import(const char *label, const uint8_t *v, size_t len)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
	CK_ULONG role = CK_M2M_ROLE_KPSA;
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_LABEL, (CK_VOID_PTR)label, strlen(label) },
		{ CKA_M2M_ROLE, &role, sizeof(role) },
		{ CKA_VALUE, (CK_VOID_PTR)v, len },
	};
	CK_OBJECT_HANDLE h;

	return f->C_CreateObject(sess, t, 6, &h);
}

static int
listen_unix(const char *path)
{
	struct sockaddr_un a;
	int fd;

	memset(&a, 0, sizeof(a));
	a.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(a.sun_path))
		die("socket path too long");
	memcpy(a.sun_path, path, strlen(path) + 1);
	unlink(path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0 ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(fd, 4) != 0)
		die("cannot listen");
	return fd;
}

static void
serve_one(int lfd, const uint8_t *v, size_t vlen, const char *refuse)
{
	struct m2m_ipc_reader *rd = NULL;
	struct m2m_ipc_msg *call = NULL;
	struct json_object *keid, *out = NULL;
	const char *k;
	char *buf = NULL;
	size_t blen = 0;
	int fd, r;

	if ((fd = accept(lfd, NULL, NULL)) < 0)
		die("accept");
	if (m2m_ipc_reader_new(M2M_IPC_CALLS, &rd) != 0 ||
	    m2m_ipc_recv(rd, fd, 10000, &call) != 0)
		die("no call");
	if (strcmp(m2m_ipc_msg_method(call),
	    "io.m2mtoken.FetchCredentials") != 0 ||
	    !json_object_object_get_ex(m2m_ipc_msg_parameters(call), "key",
	    &keid) || (k = json_object_get_string(keid)) == NULL)
		die("not a FetchCredentials call with a key");
	printf("fetch %s\n", k);
	fflush(stdout);
	if (refuse != NULL)
		r = m2m_ipc_encode_error(refuse, NULL, &buf, &blen);
	else {
		if (import(k, v, vlen) != CKR_OK)
			die("import failed");
		out = json_object_new_object();
		json_object_object_add(out, "key",
		    json_object_new_string(k));
		r = m2m_ipc_encode_reply(out, &buf, &blen);
	}
	if (r != 0 || m2m_ipc_send_all(fd, buf, blen, 10000) != 0)
		die("cannot reply");
	free(buf);
	json_object_put(out);
	m2m_ipc_msg_free(call);
	m2m_ipc_reader_free(rd);
	close(fd);
}

int
main(int argc, char **argv)
{
	const char *token = NULL, *pin_file = NULL;
	const char *value_file = NULL, *sock = NULL, *refuse = NULL;
	char pin[257];
	uint8_t v[64];
	size_t pl, vl;
	int i, count = 1, lfd;

	if (argc < 2)
		die("usage: fake_mtd serve OPTIONS");
	for (i = 2; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--token") == 0)
			token = argv[i + 1];
		else if (strcmp(argv[i], "--pin-file") == 0)
			pin_file = argv[i + 1];
		else if (strcmp(argv[i], "--value-file") == 0)
			value_file = argv[i + 1];
		else if (strcmp(argv[i], "--socket") == 0)
			sock = argv[i + 1];
		else if (strcmp(argv[i], "--refuse") == 0)
			refuse = argv[i + 1];
		else if (strcmp(argv[i], "--count") == 0)
			count = (int)strtol(argv[i + 1], NULL, 10);
		else
			die("unknown option");
	}
	if (token == NULL || pin_file == NULL || value_file == NULL)
		die("--token, --pin-file and --value-file are needed");
	pl = read_file(pin_file, pin, sizeof(pin) - 1);
	if (pl > 0 && pin[pl - 1] == '\n')
		pl--;
	pin[pl] = '\0';
	if ((vl = read_file(value_file, v, sizeof(v))) == 0)
		die("empty value file");
	token_open(token, pin);
	if (strcmp(argv[1], "serve") == 0) {
		if (sock == NULL)
			die("--socket is needed");
		lfd = listen_unix(sock);
		fprintf(stderr, "listening on %s\n", sock);
		for (i = 0; i < count; i++)
			serve_one(lfd, v, vl, refuse);
		close(lfd);
		unlink(sock);
	} else
		die("usage: fake_mtd serve OPTIONS");
	f->C_CloseSession(sess);
	f->C_Finalize(NULL);
	return 0;
}
