/*
 * bench_rss: a daemon's resident set size (VmRSS of /proc/PID/status)
 * over a long run of requests, sampled every EVERY requests.  One request
 * per loop turn, one client, a fixed mix that includes refused calls; every
 * reply is checked against what that request must get (a success, or the
 * named refusal), and a mismatch is counted as an error.
 *
 *   bench_rss ipc SOCKET E2EKEYID PID TOTAL EVERY
 *       m2mtokend (libm2mtoken-client).  Per 100 requests: 30 Mic,
 *       19 VerifyMic, 1 VerifyMic of a wrong MIC (VerificationFailed),
 *       15 Seal, 15 Open of a sealed text, 5 ListKeys, 5 Status, 4 bad
 *       frames on a raw connection (InvalidFrame), 3 Mic with an unknown
 *       key (NoSuchKey), 1 DeriveKpsa, which the caller's rule does not
 *       allow (PermissionDenied), 1 Status from another uid when run as
 *       root (a forked child, setuid 65534: PermissionDenied; every 500th
 *       request, Status otherwise), 1 Status.  Every 1,000 requests the
 *       client reconnects.
 *   bench_rss mef PORT FQDN PID TOTAL EVERY KPM_ID KPM_HEX TARGET PSK_HEX KEID
 *       m2m-mef (OpenSSL clients holding their PSKs raw).  Per 100
 *       requests: 92 GET /fetchCredentials/KEID on a keep-alive TLS-PSK
 *       connection, 1 of them on a new connection, 3 with an unknown KeId
 *       (404), 2 with an X-M2M-Origin other than the TLS identity (403),
 *       1 on an unknown path (404), 1 with a malformed KeId (400); every
 *       1,000th turn a POST /bootstrap (new connection, the enrolee's
 *       Kpm: 200) and a handshake with an unknown PSK identity (refused),
 *       fetches otherwise.
 *
 * Prints "rss requests=N kib=K" at 0 and every EVERY requests, then
 * "errors=E".  Exit 1 when a request got an unexpected answer.  Nothing
 * asserts on the RSS: bench/run_rss prints the table.
 */
#define _GNU_SOURCE	/* strcasestr */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <m2mtoken/client.h>

static long pid_rss, errors;

static long
rss_kib(void)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", pid_rss);
	if ((f = fopen(path, "r")) == NULL) {
		fprintf(stderr, "bench_rss: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "VmRSS:", 6) == 0)
			kib = strtol(line + 6, NULL, 10);
	fclose(f);
	return kib;
}

static void
bad(long i, const char *what, const char *detail)
{
	if (errors++ < 10)
		fprintf(stderr, "bench_rss: request %ld (%s): %s\n", i, what,
		    detail);
}

/* ---------------------------------------------------------------- IPC */

static const char *sock_path;

static int
raw_connect(void)
{
	struct sockaddr_un a;
	int fd;

	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0)
		return -1;
	memset(&a, 0, sizeof(a));
	a.sun_family = AF_UNIX;
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", sock_path);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* A bad frame on fd; 0 when the daemon answers InvalidFrame. */
static int
bad_frame(int fd)
{
	static const char frame[] = "{\"method\":\"io.m2mtoken.Status\",";
	char buf[1024];
	size_t have = 0;
	ssize_t n;

	if (send(fd, frame, sizeof(frame), MSG_NOSIGNAL) !=
	    (ssize_t)sizeof(frame))	/* with its NUL: a whole, bad frame */
		return -1;
	while (have == 0 || buf[have - 1] != '\0') {
		if (have == sizeof(buf) - 1)
			return -1;
		if ((n = recv(fd, buf + have, sizeof(buf) - 1 - have, 0)) <= 0)
			return -1;
		have += (size_t)n;
	}
	return strstr(buf, "io.m2mtoken.InvalidFrame") != NULL ? 0 : -1;
}

/* Status from uid 65534 in a child: 0 when it is PermissionDenied. */
static int
other_uid(void)
{
	struct m2m_client_error err;
	struct m2m_client *c;
	char *js = NULL;
	pid_t p;
	int st, r;

	if ((p = fork()) < 0)
		return -1;
	if (p == 0) {
		if (setgid(65534) != 0 || setuid(65534) != 0)
			_exit(2);
		if (m2m_client_connect(sock_path, 10000, &c) != 0)
			_exit(3);
		r = m2m_client_status(c, &js, &err);
		free(js);
		m2m_client_close(c);
		_exit(r == M2M_CLIENT_ERR_REMOTE &&
		    strcmp(err.name, "io.m2mtoken.PermissionDenied") == 0 ?
		    0 : 4);
	}
	if (waitpid(p, &st, 0) != p || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st) == 0 ? 0 : -1;
}

static int
expect_err(int r, const struct m2m_client_error *err, const char *name)
{
	return r == M2M_CLIENT_ERR_REMOTE && strcmp(err->name, name) == 0 ?
	    0 : -1;
}

static int
run_ipc(const char *e2e, long total, long every)
{
	struct m2m_client_error err;
	struct m2m_client *c = NULL;
	static const uint8_t aad[] = "bench_rss aad";
	uint8_t msg[64], smsg[64], mic[64], mic2[64], iv[12], *ct = NULL, *pt;
	size_t ml = 0, ml2, ctl = 0, ptl;
	char *js;
	long i;
	int k, r, fd = -1, root = geteuid() == 0;

	memset(msg, 0x5a, sizeof(msg));
	memcpy(smsg, msg, sizeof(msg));
	memset(&err, 0, sizeof(err));
	if (m2m_client_connect(sock_path, 10000, &c) != 0 ||
	    (fd = raw_connect()) < 0 ||
	    m2m_client_mic(c, e2e, 0, smsg, sizeof(smsg), mic, &ml, &err) !=
	    0 ||
	    m2m_client_seal(c, e2e, 0, NULL, 0, msg, sizeof(msg), iv, &ct,
	    &ctl, &err) != 0) {
		fprintf(stderr, "bench_rss: cannot start on %s: %s %s\n",
		    sock_path, err.name, err.detail);
		return 1;
	}
	printf("rss requests=0 kib=%ld\n", rss_kib());
	for (i = 0; i < total; i++) {
		k = (int)(i % 100);
		msg[1] = (uint8_t)i;
		js = NULL;
		if (i > 0 && i % 1000 == 0) {
			m2m_client_close(c);
			if (m2m_client_connect(sock_path, 10000, &c) != 0) {
				fprintf(stderr, "bench_rss: no reconnect\n");
				return 1;
			}
		}
		if (k < 30) {
			memcpy(smsg, msg, sizeof(msg));
			if (m2m_client_mic(c, e2e, 0, smsg, sizeof(smsg), mic,
			    &ml, &err) != 0)
				bad(i, "Mic", err.name);
		} else if (k < 49) {
			if (m2m_client_verify_mic(c, e2e, 0, smsg,
			    sizeof(smsg), mic, ml, &err) != 0)
				bad(i, "VerifyMic", err.name);
		} else if (k == 49) {
			mic[0] ^= 1;
			r = m2m_client_verify_mic(c, e2e, 0, smsg,
			    sizeof(smsg), mic, ml, &err);
			mic[0] ^= 1;
			if (expect_err(r, &err,
			    "io.m2mtoken.VerificationFailed") != 0)
				bad(i, "VerifyMic of a wrong MIC", err.name);
		} else if (k < 65) {
			free(ct);
			ct = NULL;
			if (m2m_client_seal(c, e2e, 0, aad, sizeof(aad), msg,
			    sizeof(msg), iv, &ct, &ctl, &err) != 0)
				bad(i, "Seal", err.name);
		} else if (k < 80) {
			pt = NULL;
			if (m2m_client_open(c, e2e, 0, aad, sizeof(aad), iv, ct,
			    ctl,
			    &pt, &ptl, &err) != 0 || ptl != sizeof(msg))
				bad(i, "Open", err.name);
			free(pt);
		} else if (k < 85) {
			if (m2m_client_call(c, "io.m2mtoken.ListKeys", NULL,
			    &js, &err) != 0 || strstr(js, e2e) == NULL)
				bad(i, "ListKeys", err.name);
		} else if (k < 90 || k == 99 || (k == 98 && (!root ||
		    i % 500 != 498))) {
			if (m2m_client_status(c, &js, &err) != 0)
				bad(i, "Status", err.name);
		} else if (k < 94) {
			if (bad_frame(fd) != 0)
				bad(i, "bad frame", "no InvalidFrame answer");
		} else if (k < 97) {
			r = m2m_client_mic(c, "no-such-key@bench", 0, msg,
			    sizeof(msg), mic2, &ml2, &err);
			if (expect_err(r, &err, "io.m2mtoken.NoSuchKey") != 0)
				bad(i, "Mic, unknown key", err.name);
		} else if (k == 97) {
			r = m2m_client_call(c, "io.m2mtoken.DeriveKpsa",
			    "{\"key\":\"000102030405060708090a0b0c0d0e0f"
			    "@mef.example.com\",\"target\":\"/in-cse/X\"}",
			    &js, &err);
			if (expect_err(r, &err,
			    "io.m2mtoken.PermissionDenied") != 0)
				bad(i, "DeriveKpsa, not allowed", err.name);
		} else {
			if (other_uid() != 0)
				bad(i, "Status from uid 65534",
				    "not PermissionDenied");
		}
		free(js);
		if ((i + 1) % every == 0)
			printf("rss requests=%ld kib=%ld\n", i + 1, rss_kib());
		fflush(stdout);
	}
	free(ct);
	close(fd);
	m2m_client_close(c);
	return 0;
}

/* ---------------------------------------------------------------- MEF */

static int port;
static const char *fqdn, *psk_id;
static unsigned char psk[64];
static size_t psk_len;
static SSL_CTX *ctx;

static unsigned int
psk_cb(SSL *ssl, const char *hint, char *identity, unsigned int max_id,
    unsigned char *out, unsigned int max_psk)
{
	(void)ssl;
	(void)hint;
	if (strlen(psk_id) + 1 > max_id || psk_len > max_psk)
		return 0;
	memcpy(identity, psk_id, strlen(psk_id) + 1);
	memcpy(out, psk, psk_len);
	return (unsigned int)psk_len;
}

static int
set_psk(const char *id, const char *hexs)
{
	size_t i, n = strlen(hexs);
	unsigned int v;

	if (n % 2 || n / 2 > sizeof(psk))
		return -1;
	for (i = 0; i < n / 2; i++) {
		if (sscanf(hexs + 2 * i, "%2x", &v) != 1)
			return -1;
		psk[i] = (unsigned char)v;
	}
	psk_len = n / 2;
	psk_id = id;
	return 0;
}

static SSL *
dial(void)
{
	struct sockaddr_in a;
	SSL *ssl;
	int fd, one = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return NULL;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    (ssl = SSL_new(ctx)) == NULL) {
		close(fd);
		return NULL;
	}
	SSL_set_fd(ssl, fd);
	SSL_set_tlsext_host_name(ssl, fqdn);
	if (SSL_connect(ssl) != 1) {
		SSL_free(ssl);
		close(fd);
		return NULL;
	}
	return ssl;
}

static void
hang_up(SSL *ssl)
{
	int fd;

	if (ssl == NULL)
		return;
	fd = SSL_get_fd(ssl);
	SSL_shutdown(ssl);
	SSL_free(ssl);
	close(fd);
}

/*
 * Sends req, reads one reply: its HTTP status, or -1.  *closing is set
 * when the server says it closes the connection.
 */
static int
exchange(SSL *ssl, const char *req, int *closing)
{
	char buf[8192];
	size_t have = 0;
	long clen = -1;
	char *hdr_end, *p;
	int n;

	*closing = 1;
	if (SSL_write(ssl, req, (int)strlen(req)) <= 0)
		return -1;
	for (;;) {
		if (have == sizeof(buf) - 1)
			return -1;
		if ((n = SSL_read(ssl, buf + have, (int)(sizeof(buf) - 1 -
		    have))) <= 0)
			return -1;
		have += (size_t)n;
		buf[have] = '\0';
		if ((hdr_end = strstr(buf, "\r\n\r\n")) == NULL)
			continue;
		if (clen < 0) {
			if ((p = strcasestr(buf, "\r\nContent-Length:")) ==
			    NULL || p > hdr_end)
				return -1;
			clen = strtol(p + 17, NULL, 10);
		}
		if ((long)(have - (size_t)(hdr_end + 4 - buf)) >= clen)
			break;
	}
	*hdr_end = '\0';
	*closing = strcasestr(buf, "\r\nConnection: close") != NULL;
	n = strncmp(buf, "HTTP/1.1 ", 9) == 0 ?
	    (int)strtol(buf + 9, NULL, 10) : -1;
	OPENSSL_cleanse(buf, sizeof(buf));	/* may hold a credential */
	return n;
}

static int
run_mef(long total, long every, char **a)
{
	const char *kpm_id = a[0], *kpm = a[1], *target = a[2],
	    *tpsk = a[3], *keid = a[4];
	char fetch[512], unknown[512], origin[512], path[512], malformed[512],
	    boot[512];
	SSL *ssl = NULL, *s2;
	long i;
	int k, want, got, closing, fresh;

	snprintf(fetch, sizeof(fetch), "GET /fetchCredentials/%s HTTP/1.1\r\n"
	    "Host: %s\r\nX-M2M-Origin: %s\r\n\r\n", keid, fqdn, target);
	snprintf(unknown, sizeof(unknown), "GET /fetchCredentials/"
	    "ffffffffffffffffffffffffffffffff@%s HTTP/1.1\r\nHost: %s\r\n"
	    "X-M2M-Origin: %s\r\n\r\n", fqdn, fqdn, target);
	snprintf(origin, sizeof(origin), "GET /fetchCredentials/%s HTTP/1.1"
	    "\r\nHost: %s\r\nX-M2M-Origin: someone.else.example\r\n\r\n",
	    keid, fqdn);
	snprintf(path, sizeof(path), "GET /nowhere HTTP/1.1\r\nHost: %s\r\n"
	    "X-M2M-Origin: %s\r\n\r\n", fqdn, target);
	snprintf(malformed, sizeof(malformed), "GET /fetchCredentials/xyz "
	    "HTTP/1.1\r\nHost: %s\r\nX-M2M-Origin: %s\r\n\r\n", fqdn, target);
	snprintf(boot, sizeof(boot), "POST /bootstrap HTTP/1.1\r\n"
	    "Host: %s\r\nContent-Type: application/json\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n\r\n"
	    "{\"Targets\":[\"%s\"]}", fqdn, strlen(target) + 16, target);

	printf("rss requests=0 kib=%ld\n", rss_kib());
	for (i = 0; i < total; i++) {
		k = (int)(i % 100);
		if (k == 98 && i % 1000 == 998) {	/* a bootstrap */
			s2 = NULL;
			if (set_psk(kpm_id, kpm) != 0 || (s2 = dial()) == NULL)
				bad(i, "bootstrap", "no handshake");
			else if ((got = exchange(s2, boot, &closing)) != 200)
				bad(i, "bootstrap", "not 200");
			if (s2 != NULL)
				hang_up(s2);
			goto sample;
		}
		if (k == 99 && i % 1000 == 999) {	/* unknown identity */
			if (set_psk("no-such-identity", kpm) != 0)
				return 1;
			ERR_clear_error();
			if ((s2 = dial()) != NULL) {
				bad(i, "unknown identity", "handshake passed");
				hang_up(s2);
			}
			goto sample;
		}
		fresh = k == 50;
		if (fresh) {
			hang_up(ssl);
			ssl = NULL;
		}
		if (set_psk(target, tpsk) != 0)
			return 1;
		if (ssl == NULL && (ssl = dial()) == NULL) {
			bad(i, "fetch", "no handshake");
			goto sample;
		}
		if (k >= 92 && k < 95) {
			got = exchange(ssl, unknown, &closing);
			want = 404;
		} else if (k == 95 || k == 96) {
			got = exchange(ssl, origin, &closing);
			want = 403;
		} else if (k == 97) {
			got = exchange(ssl, path, &closing);
			want = 404;
		} else if (k == 91) {
			got = exchange(ssl, malformed, &closing);
			want = 400;
		} else {
			got = exchange(ssl, fetch, &closing);
			want = 200;
		}
		if (got != want) {
			char d[64];

			snprintf(d, sizeof(d), "HTTP %d, wanted %d", got, want);
			bad(i, "fetch", d);
		}
		if (closing || got < 0) {
			hang_up(ssl);
			ssl = NULL;
		}
 sample:
		if ((i + 1) % every == 0)
			printf("rss requests=%ld kib=%ld\n", i + 1, rss_kib());
		fflush(stdout);
	}
	hang_up(ssl);
	return 0;
}

int
main(int argc, char **argv)
{
	long total, every;
	int r;

	if (argc == 7 && strcmp(argv[1], "ipc") == 0) {
		sock_path = argv[2];
		pid_rss = strtol(argv[4], NULL, 10);
		total = strtol(argv[5], NULL, 10);
		every = strtol(argv[6], NULL, 10);
		if (total < 1 || every < 1)
			return 2;
		r = run_ipc(argv[3], total, every);
	} else if (argc == 12 && strcmp(argv[1], "mef") == 0) {
		port = (int)strtol(argv[2], NULL, 10);
		fqdn = argv[3];
		pid_rss = strtol(argv[4], NULL, 10);
		total = strtol(argv[5], NULL, 10);
		every = strtol(argv[6], NULL, 10);
		if (total < 1 || every < 1)
			return 2;
		if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL)
			return 1;
		SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
		SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
		SSL_CTX_set_cipher_list(ctx, "PSK-AES128-CBC-SHA256");
		SSL_CTX_set_psk_client_callback(ctx, psk_cb);
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
		r = run_mef(total, every, argv + 7);
		OPENSSL_cleanse(psk, sizeof(psk));
		SSL_CTX_free(ctx);
	} else {
		fprintf(stderr, "usage: bench_rss ipc SOCKET E2EKEYID PID "
		    "TOTAL EVERY\n       bench_rss mef PORT FQDN PID TOTAL "
		    "EVERY KPM_ID KPM_HEX TARGET PSK_HEX KEID\n");
		return 2;
	}
	printf("errors=%ld\n", errors);
	return r != 0 || errors != 0;
}
