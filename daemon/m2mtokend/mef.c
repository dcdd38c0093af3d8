/*
 * m2mtokend: one exchange with the MEF (see mef.h).
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#include "errors.h"
#include "mef.h"

static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Connects to host:port within the time left; the fd, or -1. */
static int
connect_to(const struct mtd_mef_target *t, long deadline, char *detail,
    size_t dlen)
{
	struct addrinfo hints, *ai = NULL, *a;
	char port[8];
	struct pollfd pfd;
	socklen_t sl;
	int fd = -1, e, soerr;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(port, sizeof(port), "%u", t->port);
	if ((e = getaddrinfo(t->host, port, &hints, &ai)) != 0) {
		snprintf(detail, dlen, "cannot resolve the MEF host: %s",
		    gai_strerror(e));
		return -1;
	}
	snprintf(detail, dlen, "no address of the MEF host");
	for (a = ai; a != NULL; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC |
		    SOCK_NONBLOCK, a->ai_protocol);
		if (fd == -1)
			continue;
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
			break;
		if (errno == EINPROGRESS) {
			pfd.fd = fd;
			pfd.events = POLLOUT;
			e = deadline - now_ms() > 0 ?
			    poll(&pfd, 1, (int)(deadline - now_ms())) : 0;
			sl = sizeof(soerr);
			if (e == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR,
			    &soerr, &sl) == 0 && soerr == 0)
				break;
			snprintf(detail, dlen, "cannot connect to the MEF "
			    "(%s:%u): %s", t->host, t->port, e == 0 ?
			    "timed out" : strerror(e == 1 ? soerr : errno));
		} else {
			snprintf(detail, dlen, "cannot connect to the MEF "
			    "(%s:%u): %s", t->host, t->port, strerror(errno));
		}
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

/* Waits until fd is ready for what SSL wants; 0, or -1 on timeout. */
static int
wait_for(SSL *ssl, int fd, int ret, long deadline)
{
	struct pollfd pfd;
	int e = SSL_get_error(ssl, ret);
	long left;

	if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
		return -2;
	pfd.fd = fd;
	pfd.events = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
	if ((left = deadline - now_ms()) <= 0)
		return -1;
	return poll(&pfd, 1, (int)left) == 1 ? 0 : -1;
}

/* see mef.h */
int
mtd_mef_exchange(SSL_CTX *ctx, const struct mtd_mef_target *t,
    const char *req, size_t req_len, uint8_t *ekm,
    struct mtd_mef_result *res, char *detail, size_t dlen)
{
	long deadline = now_ms() + (long)t->timeout * 1000;
	size_t off = 0, got = 0;
	SSL *ssl = NULL;
	int fd = -1, n, w, r = M2M_IPC_ERR_MEF_UNREACHABLE;

	detail[0] = '\0';
	ERR_clear_error();
	if ((fd = connect_to(t, deadline, detail, dlen)) == -1)
		goto out;
	if ((ssl = SSL_new(ctx)) == NULL || SSL_set_fd(ssl, fd) != 1 ||
	    SSL_set_tlsext_host_name(ssl, t->fqdn) != 1) {
		snprintf(detail, dlen, "cannot set up TLS");
		r = M2M_IPC_ERR_NO_MEMORY;
		goto out;
	}
	while ((n = SSL_connect(ssl)) != 1) {
		if ((w = wait_for(ssl, fd, n, deadline)) != 0) {
			snprintf(detail, dlen, w == -1 ? "TLS handshake with "
			    "the MEF timed out" : "TLS handshake with the MEF "
			    "failed (wrong PSK or identity, a certificate "
			    "refused, or SNI refused): "
			    "%.80s", ERR_reason_error_string(ERR_peek_error())
			    ? ERR_reason_error_string(ERR_peek_error()) :
			    "connection closed");
			goto out;
		}
	}
	if (ekm != NULL && m2m_tls_export_ke(ssl, ekm) != 0) {
		snprintf(detail, dlen, "RFC 5705 export failed");
		r = M2M_IPC_ERR_INTERNAL;
		goto out;
	}
	while (off < req_len) {
		n = SSL_write(ssl, req + off, (int)(req_len - off));
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (wait_for(ssl, fd, n, deadline) != 0) {
			snprintf(detail, dlen, "sending the request to the "
			    "MEF failed or timed out");
			goto out;
		}
	}
	for (;;) {
		if (got >= MTD_MEF_RESP_MAX) {
			snprintf(detail, dlen, "the MEF's response is too "
			    "large");
			r = M2M_IPC_ERR_MEF_PROTOCOL;
			goto out;
		}
		n = SSL_read(ssl, res->buf + got,
		    (int)(MTD_MEF_RESP_MAX - got));
		if (n > 0) {
			got += (size_t)n;
			w = mtd_http_parse_response(res->buf, got,
			    &res->resp);
			if (w == 0)
				break;
			if (w != MTD_HTTP_MORE) {
				snprintf(detail, dlen, "the MEF's HTTP "
				    "response is malformed (%d)", w);
				r = M2M_IPC_ERR_MEF_PROTOCOL;
				goto out;
			}
			continue;
		}
		if (SSL_get_error(ssl, n) == SSL_ERROR_ZERO_RETURN ||
		    SSL_get_error(ssl, n) == SSL_ERROR_SYSCALL) {
			snprintf(detail, dlen, "the MEF closed the connection "
			    "before a whole response");
			r = got > 0 ? M2M_IPC_ERR_MEF_PROTOCOL :
			    M2M_IPC_ERR_MEF_UNREACHABLE;
			goto out;
		}
		if (wait_for(ssl, fd, n, deadline) != 0) {
			snprintf(detail, dlen, "no response from the MEF in "
			    "%u s", t->timeout);
			goto out;
		}
	}
	res->buf[got] = '\0';
	r = 0;
 out:
	if (ssl != NULL) {
		if (r == 0)
			SSL_shutdown(ssl);
		SSL_free(ssl);
	}
	if (fd != -1)
		close(fd);
	ERR_clear_error();
	return r;
}
