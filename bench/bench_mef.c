/*
 * bench_mef: requests per second and latency (p50, p99) of a running
 * m2m-mef, from C clients that hold their PSKs raw in OpenSSL, at a given
 * number of concurrent clients (threads, blocking sockets, 127.0.0.1).
 *
 *   bench_mef enrol PORT FQDN KPM_ID KPM_HEX TARGET CLIENTS SECONDS
 *       one full TLS-PSK handshake + POST /bootstrap per operation (a new
 *       connection each: one bootstrap per connection)
 *   bench_mef fetch PORT FQDN TARGET PSK_HEX KEID CLIENTS SECONDS
 *       GET /fetchCredentials/KEID per operation over one keep-alive TLS
 *       connection per client (connect + handshake not timed)
 *   bench_mef handshake PORT FQDN KPM_ID KPM_HEX TARGET CLIENTS SECONDS
 *       as enrol without the request: a new connection and a full TLS-PSK
 *       handshake, then close (the part of an enrolment that is not the
 *       enrolment's own work)
 *
 * Prints one line: "<mode> clients=N ops=N ops_s=R p50_ms=X p99_ms=Y
 * errors=E".  Nothing asserts on time.  See bench/README.md (m2m-mef).
 */
#define _GNU_SOURCE	/* strcasestr */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/ssl.h>

#define LAT_MAX		2000000
#define CLIENTS_MAX	256

static int enrol_mode, handshake_mode, port;
static const char *fqdn, *id, *target, *keid;
static unsigned char psk[64];
static size_t psk_len;
static double secs, t_end;
static SSL_CTX *ctx;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static double *lat;
static long nlat, errors;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static unsigned int
psk_cb(SSL *ssl, const char *hint, char *identity, unsigned int max_id,
    unsigned char *out, unsigned int max_psk)
{
	(void)ssl;
	(void)hint;
	if (strlen(id) + 1 > max_id || psk_len > max_psk)
		return 0;
	memcpy(identity, id, strlen(id) + 1);
	memcpy(out, psk, psk_len);
	return (unsigned int)psk_len;
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

/* Send req, read one reply; 0 when it is "HTTP/1.1 200". */
static int
exchange(SSL *ssl, const char *req)
{
	char buf[4096];
	size_t have = 0;
	long clen = -1;
	char *hdr_end, *p;
	int n;

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
			    NULL)
				return -1;
			clen = strtol(p + 17, NULL, 10);
		}
		if ((long)(have - (size_t)(hdr_end + 4 - buf)) >= clen)
			break;
	}
	n = strncmp(buf, "HTTP/1.1 200", 12) == 0 ? 0 : -1;
	OPENSSL_cleanse(buf, sizeof(buf));	/* may hold a credential */
	return n;
}

static void
record(double t, int ok)
{
	pthread_mutex_lock(&lock);
	if (!ok)
		errors++;
	else if (nlat < LAT_MAX)
		lat[nlat++] = t;
	pthread_mutex_unlock(&lock);
}

static void *
worker(void *arg)
{
	char req[1024];
	SSL *ssl = NULL;
	double t0;
	int ok;

	(void)arg;
	if (enrol_mode)
		snprintf(req, sizeof(req), "POST /bootstrap HTTP/1.1\r\n"
		    "Host: %s\r\nContent-Type: application/json\r\n"
		    "Content-Length: %zu\r\nConnection: close\r\n\r\n"
		    "{\"Targets\":[\"%s\"]}", fqdn, strlen(target) + 16,
		    target);
	else
		snprintf(req, sizeof(req), "GET /fetchCredentials/%s "
		    "HTTP/1.1\r\nHost: %s\r\nX-M2M-Origin: %s\r\n\r\n", keid,
		    fqdn, target);
	while (now() < t_end) {
		if (enrol_mode || handshake_mode) {
			t0 = now();
			ssl = dial();
			ok = ssl != NULL && (handshake_mode ||
			    exchange(ssl, req) == 0);
			hang_up(ssl);
			ssl = NULL;
			record(now() - t0, ok);
			continue;
		}
		if (ssl == NULL && (ssl = dial()) == NULL) {
			record(0, 0);
			continue;
		}
		t0 = now();
		ok = exchange(ssl, req) == 0;
		record(now() - t0, ok);
		if (!ok) {
			hang_up(ssl);
			ssl = NULL;
		}
	}
	hang_up(ssl);
	return NULL;
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int
hex(const char *s)
{
	size_t i, n = strlen(s);
	unsigned int v;

	if (n % 2 || n / 2 > sizeof(psk))
		return -1;
	for (i = 0; i < n / 2; i++) {
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		psk[i] = (unsigned char)v;
	}
	psk_len = n / 2;
	return 0;
}

int
main(int argc, char **argv)
{
	pthread_t th[CLIENTS_MAX];
	int clients, i;
	double t0, el;

	if (argc != 9) {
		fprintf(stderr, "usage: bench_mef enrol PORT FQDN KPM_ID "
		    "KPM_HEX TARGET CLIENTS SECONDS\n"
		    "       bench_mef fetch PORT FQDN TARGET PSK_HEX KEID "
		    "CLIENTS SECONDS\n"
		    "       bench_mef handshake PORT FQDN KPM_ID KPM_HEX TARGET "
		    "CLIENTS SECONDS\n");
		return 2;
	}
	enrol_mode = strcmp(argv[1], "enrol") == 0;
	handshake_mode = strcmp(argv[1], "handshake") == 0;
	if (!enrol_mode && !handshake_mode && strcmp(argv[1], "fetch") != 0)
		return 2;
	port = (int)strtol(argv[2], NULL, 10);
	fqdn = argv[3];
	id = argv[4];
	if (hex(argv[5]) != 0)
		return 2;
	if (enrol_mode || handshake_mode)
		target = argv[6];
	else {
		target = argv[4];
		keid = argv[6];
	}
	clients = (int)strtol(argv[7], NULL, 10);
	secs = atof(argv[8]);
	if (clients < 1 || clients > CLIENTS_MAX || secs <= 0)
		return 2;
	if ((lat = malloc(LAT_MAX * sizeof(*lat))) == NULL ||
	    (ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		return 1;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_cipher_list(ctx, "PSK-AES128-CBC-SHA256");
	SSL_CTX_set_psk_client_callback(ctx, psk_cb);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	/*
	 * The clients share the two cores with the MEF: one read() takes a
	 * reply's two records, where a record at a time took four (each its
	 * header, then its body).
	 */
	SSL_CTX_set_read_ahead(ctx, 1);
	t0 = now();
	t_end = t0 + secs;
	for (i = 0; i < clients; i++)
		if (pthread_create(&th[i], NULL, worker, NULL) != 0)
			return 1;
	for (i = 0; i < clients; i++)
		pthread_join(th[i], NULL);
	el = now() - t0;
	qsort(lat, (size_t)nlat, sizeof(*lat), cmp);
	printf("%s clients=%d ops=%ld ops_s=%.1f p50_ms=%.2f p99_ms=%.2f "
	    "errors=%ld\n", argv[1], clients, nlat, nlat / el,
	    nlat ? lat[nlat / 2] * 1e3 : 0,
	    nlat ? lat[(size_t)(nlat * 0.99)] * 1e3 : 0, errors);
	OPENSSL_cleanse(psk, sizeof(psk));
	SSL_CTX_free(ctx);
	free(lat);
	return 0;
}
