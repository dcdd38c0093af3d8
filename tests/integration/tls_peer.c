/*
 * tls_peer: one TLS 1.2 / DTLS 1.2 PSK handshake with the PSK in the token,
 * for the integration tests (tests/integration/test_tls_*.sh).
 *
 *   tls_peer client|server --psk-id ID [--tls|--dtls] [--port P]
 *       [--sni NAME] [--import-hex HEX ROLE] [--expires TS] [--cipher LIST]
 *       [--token LABEL]
 *
 * Initialises the token LABEL (default "m2m-tls"; SO PIN $M2M_SO_PIN, user
 * PIN $M2MTOKEN_USER_PIN, defaults 5678 / 1234) if there is none, imports a
 * PSK (ROLE kpm|kpsa|km|kuc|kc) when asked, runs one handshake on
 * 127.0.0.1:P, prints "exporter: <HEX>" (48 bytes, RFC 5705 label
 * EXPORTER-oneM2M-Bootstrap) and exits 0; exits 1 on any failure.
 * A server prints "listening on 127.0.0.1:P" on stderr once it is ready.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <m2mtoken/tls.h>
#include "tls_p11.h"

static void
usage(void)
{
	fprintf(stderr, "usage: tls_peer client|server --psk-id ID "
	    "[--tls|--dtls] [--port P] [--sni NAME] [--import-hex HEX ROLE] "
	    "[--expires TS] [--cipher LIST] [--token LABEL]\n");
	exit(2);
}

static const char *
envor(const char *name, const char *def)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0' ? v : def;
}

static int
role_of(const char *s, CK_ULONG *ret)
{
	static const struct { const char *n; CK_ULONG r; } t[] = {
		{ "kpm", CK_M2M_ROLE_KPM }, { "kpsa", CK_M2M_ROLE_KPSA },
		{ "km", CK_M2M_ROLE_KM }, { "kuc", CK_M2M_ROLE_KUC },
		{ "kc", CK_M2M_ROLE_KC },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strcasecmp(s, t[i].n) == 0) {
			*ret = t[i].r;
			return 0;
		}
	return -1;
}

static int
hex_decode(const char *hex, uint8_t *out, size_t max, size_t *ret_len)
{
	size_t n = strlen(hex), i;
	unsigned int v;

	if (n == 0 || n % 2 != 0 || n / 2 > max)
		return -1;
	for (i = 0; i < n / 2; i++) {
		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (uint8_t)v;
	}
	*ret_len = n / 2;
	return 0;
}

static int
import_key(CK_FUNCTION_LIST_PTR f, CK_SLOT_ID slot, const char *pin,
    const char *label, const char *hex, const char *rolename,
    const char *expires)
{
	uint8_t v[256];
	size_t vl = 0;
	CK_ULONG role;
	CK_SESSION_HANDLE s;
	CK_RV rv;
	int r = -1;

	if (hex_decode(hex, v, sizeof(v), &vl) != 0 ||
	    role_of(rolename, &role) != 0) {
		fprintf(stderr, "tls_peer: bad --import-hex HEX ROLE\n");
		goto out;
	}
	if ((rv = f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
	    NULL, NULL, &s)) != CKR_OK) {
		fprintf(stderr, "tls_peer: C_OpenSession: %s\n",
		    m2m_p11_rv_name(rv));
		goto out;
	}
	rv = f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin));
	if (rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN)
		rv = m2m_p11_import_psk(f, s, label, role, v, vl, expires);
	f->C_CloseSession(s);
	if (rv != CKR_OK) {
		fprintf(stderr, "tls_peer: import of '%s': %s\n", label,
		    m2m_p11_rv_name(rv));
		goto out;
	}
	r = 0;
 out:
	OPENSSL_cleanse(v, sizeof(v));
	return r;
}

static int
net_client(int dtls, int port)
{
	struct sockaddr_in a;
	int fd, i;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (i = 0; i < 100; i++) {
		if ((fd = socket(AF_INET, dtls ? SOCK_DGRAM : SOCK_STREAM,
		    0)) < 0)
			return -1;
		if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
			return fd;
		close(fd);
		usleep(100000);
	}
	fprintf(stderr, "tls_peer: cannot connect to 127.0.0.1:%d: %s\n",
	    port, strerror(errno));
	return -1;
}

static int
net_server(int dtls, int port)
{
	struct sockaddr_in a, peer;
	socklen_t pl = sizeof(peer);
	int fd, c, one = 1;
	char b;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, dtls ? SOCK_DGRAM : SOCK_STREAM, 0)) < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    (!dtls && listen(fd, 4) != 0)) {
		fprintf(stderr, "tls_peer: cannot listen on 127.0.0.1:%d: "
		    "%s\n", port, strerror(errno));
		close(fd);
		return -1;
	}
	fprintf(stderr, "listening on 127.0.0.1:%d\n", port);
	if (!dtls) {
		c = accept(fd, NULL, NULL);
		close(fd);
		return c;
	}
	/* UDP: learn the peer from its first datagram, then connect to it */
	if (recvfrom(fd, &b, 1, MSG_PEEK, (struct sockaddr *)&peer, &pl) < 0 ||
	    connect(fd, (struct sockaddr *)&peer, pl) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int
main(int argc, char **argv)
{
	struct m2m_tls_opts o;
	const char *psk_id = NULL, *sni = NULL, *imp_hex = NULL;
	const char *imp_role = NULL, *expires = NULL, *ciphers = NULL;
	const char *token = "m2m-tls", *pin, *so_pin;
	CK_FUNCTION_LIST_PTR f = NULL;
	CK_SLOT_ID slot;
	SSL_CTX *ctx = NULL;
	SSL *ssl = NULL;
	BIO *bio;
	uint8_t ke[M2M_TLS_EXPORT_LEN];
	int server, dtls = 0, port = 0, fd = -1, i, r, rc = 1;
	CK_RV rv;

	if (argc < 2)
		usage();
	if (strcmp(argv[1], "client") == 0)
		server = 0;
	else if (strcmp(argv[1], "server") == 0)
		server = 1;
	else
		usage();
	for (i = 2; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--tls") == 0) {
			dtls = 0;
			continue;
		} else if (strcmp(a, "--dtls") == 0) {
			dtls = 1;
			continue;
		}
		if (v == NULL)
			usage();
		i++;
		if (strcmp(a, "--psk-id") == 0)
			psk_id = v;
		else if (strcmp(a, "--port") == 0)
			port = (int)strtol(v, NULL, 10);
		else if (strcmp(a, "--sni") == 0)
			sni = v;
		else if (strcmp(a, "--expires") == 0)
			expires = v;
		else if (strcmp(a, "--cipher") == 0)
			ciphers = v;
		else if (strcmp(a, "--token") == 0)
			token = v;
		else if (strcmp(a, "--import-hex") == 0 && i + 1 < argc) {
			imp_hex = v;
			imp_role = argv[++i];
		} else
			usage();
	}
	if (psk_id == NULL || port <= 0 || port > 65535)
		usage();
	if (!server && sni == NULL)
		sni = "localhost";
	alarm(30);
	pin = envor("M2MTOKEN_USER_PIN", "1234");
	so_pin = envor("M2M_SO_PIN", "5678");

	if ((f = m2m_p11_load(NULL)) == NULL)
		goto out;
	if ((rv = m2m_p11_find_token(f, token, 1, so_pin, pin, &slot)) !=
	    CKR_OK) {
		fprintf(stderr, "tls_peer: token '%s': %s\n", token,
		    m2m_p11_rv_name(rv));
		goto out;
	}
	if (imp_hex != NULL && import_key(f, slot, pin, psk_id, imp_hex,
	    imp_role, expires) != 0)
		goto out;

	memset(&o, 0, sizeof(o));
	o.token_label = token;
	o.pin = pin;
	o.role = server ? M2M_TLS_SERVER : M2M_TLS_CLIENT;
	o.dtls = dtls;
	o.sni = sni;
	o.ciphers = ciphers;
	o.identity = server ? NULL : psk_id;
	if ((r = m2m_tls_ctx_new(&o, &ctx)) != 0) {
		fprintf(stderr, "tls_peer: m2m_tls_ctx_new: %s\n",
		    m2m_tls_strerror(r));
		goto out;
	}
	fd = server ? net_server(dtls, port) : net_client(dtls, port);
	if (fd < 0 || (ssl = SSL_new(ctx)) == NULL)
		goto out;
	if (dtls) {
		if ((bio = BIO_new_dgram(fd, BIO_NOCLOSE)) == NULL)
			goto out;
		/* the socket is connected: tell the BIO its peer */
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);

		memset(&ss, 0, sizeof(ss));
		if (getpeername(fd, (struct sockaddr *)&ss, &sl) != 0)
			goto out;
		BIO_ctrl(bio, BIO_CTRL_DGRAM_SET_CONNECTED, 0, &ss);
		SSL_set_bio(ssl, bio, bio);
	} else if (!SSL_set_fd(ssl, fd))
		goto out;
	r = server ? SSL_accept(ssl) : SSL_connect(ssl);
	if (r != 1) {
		int e = SSL_get_error(ssl, r);

		fprintf(stderr, "tls_peer: %s handshake failed (%s)\n",
		    dtls ? "DTLS" : "TLS", e == SSL_ERROR_SYSCALL ?
		    (errno ? strerror(errno) : "connection closed") :
		    e == SSL_ERROR_SSL ? "TLS error" : "I/O error");
		ERR_print_errors_fp(stderr);
		goto out;
	}
	if (m2m_tls_export_ke(ssl, ke) != 0) {
		fprintf(stderr, "tls_peer: export failed\n");
		goto out;
	}
	printf("cipher: %s\nexporter: ", SSL_get_cipher_name(ssl));
	for (i = 0; i < M2M_TLS_EXPORT_LEN; i++)
		printf("%02X", ke[i]);
	printf("\n");
	fflush(stdout);
	OPENSSL_cleanse(ke, sizeof(ke));
	SSL_shutdown(ssl);
	rc = 0;
 out:
	SSL_free(ssl);
	if (fd >= 0)
		close(fd);
	m2m_tls_ctx_free(ctx);
	if (f != NULL)
		m2m_p11_unload();
	return rc;
}
