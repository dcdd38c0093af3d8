/*
 * m2mtokend: the frame loop of one client-mode connection (see
 * p11worker.h).
 */
#include <sys/socket.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "p11wire.h"
#include "p11worker.h"

#define REASON_MAX	256

static int
write_all(int fd, const uint8_t *p, size_t n)
{
	struct pollfd pfd = { fd, POLLOUT, 0 };
	ssize_t w;

	while (n > 0) {
		w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == ENOTSOCK)
			w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				(void)poll(&pfd, 1, -1);
				continue;
			}
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Send what out holds, then empty it (wiped). */
static int
flush(int fd, struct p11w_buf *out)
{
	int r = 0, e;

	if (out->len != 0)
		r = write_all(fd, out->data, out->len);
	e = errno;
	p11w_buf_reset(out);
	errno = e;	/* for gone() */
	return r;
}

/*
 * A read or write error that only says the client has gone: it closed
 * with our reply unread (ECONNRESET) or before we could answer (EPIPE).
 * That ends the connection as EOF does, not as a failure.
 */
static int
client_gone(void)
{
	return errno == ECONNRESET || errno == EPIPE;
}

/* After a failed read or write: 0 when the client has gone, else -1; logged. */
static int
gone(uint32_t id)
{
	int e = errno;

	if (client_gone()) {
		mtd_log(MTD_LOG_INFO, "pkcs11: the client has gone (%s, after "
		    "frame %u)", strerror(e), id);
		return 0;
	}
	mtd_log(MTD_LOG_WARNING, "pkcs11: connection failed (%s, after frame "
	    "%u)", strerror(e), id);
	return -1;
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What a wait for bytes may miss. */
enum deadline { NONE, HELLO, STALL, IDLE };

/* Take the deadline at + s seconds (s 0: none) if it is the earliest. */
static void
earliest(long long *at, enum deadline *which, long long from,
    unsigned int s, enum deadline what)
{
	long long t = from + s * 1000LL;

	if (s == 0 || (*which != NONE && *at <= t))
		return;
	*at = t;
	*which = what;
}

/* see p11worker.h */
int
mtd_p11worker_run(int fd, CK_FUNCTION_LIST_3_0 *fl,
    p11srv_visible_fn visible, void *arg,
    const struct mtd_p11worker_limits *lim)
{
	const size_t frame_max = lim->frame_max;
	struct p11srv *s = NULL;
	struct p11w_buf out, reply;
	struct p11w_hdr h = { 0, 0, 0 };
	struct p11w_hello hello;
	struct pollfd pfd = { fd, POLLIN, 0 };
	uint8_t *in = NULL;
	size_t inlen = 0, incap, off;
	long long begun = 0, quiet = 0, left, at = 0;
	const long long started = now_ms();
	enum deadline which;
	char reason[REASON_MAX] = "";
	ssize_t n;
	int r = -1, err = P11W_OK, said_hello = 0, done = 0, timeout;
	int must_poll = 0;

	p11w_buf_init(&out, 2 * (frame_max + P11W_HDR_LEN));
	p11w_buf_init(&reply, frame_max);
	incap = frame_max + P11W_HDR_LEN;
	if ((in = malloc(incap)) == NULL ||
	    (s = p11srv_new(fl, visible, arg, frame_max)) == NULL) {
		err = P11W_ERR_INTERNAL;
		snprintf(reason, sizeof(reason), "out of memory");
		goto proto;
	}
	for (;;) {
		/* every whole frame read so far */
		for (off = 0; !done && inlen - off >= P11W_HDR_LEN;) {
			p11w_hdr_get(in + off, &h);
			if (h.len > frame_max) {
				err = P11W_ERR_TOO_BIG;
				snprintf(reason, sizeof(reason), "a frame of "
				    "%u bytes, over frame_max %zu", h.len,
				    frame_max);
				goto proto;
			}
			if (inlen - off - P11W_HDR_LEN < h.len)
				break;
			p11w_buf_reset(&reply);
			if (!said_hello) {
				if (h.code != P11W_CALL_HELLO) {
					err = P11W_ERR_ORDER;
					snprintf(reason, sizeof(reason),
					    "call %u before HELLO", h.code);
					goto proto;
				}
				if ((err = p11w_hello_check(in + off +
				    P11W_HDR_LEN, h.len, &hello, reason,
				    sizeof(reason))) != P11W_OK)
					goto proto;
				p11w_hello_reply(&reply, (uint32_t)frame_max);
				said_hello = 1;
			} else if (h.code == P11W_CALL_HELLO) {
				err = P11W_ERR_ORDER;
				snprintf(reason, sizeof(reason), "a second "
				    "HELLO");
				goto proto;
			} else if ((err = p11srv_call(s, h.code, in + off +
			    P11W_HDR_LEN, h.len, &reply, reason,
			    sizeof(reason))) != P11W_OK)
				goto proto;
			if (reply.failed) {
				err = P11W_ERR_INTERNAL;
				snprintf(reason, sizeof(reason), "out of memory");
				goto proto;
			}
			p11w_frame(&out, h.id, P11W_OK, reply.data, reply.len);
			off += P11W_HDR_LEN + h.len;
			done = h.code == P11W_CALL_C_Finalize;
			if (out.len >= frame_max && flush(fd, &out) != 0) {
				r = gone(h.id);
				goto out;
			}
		}
		if (off != 0) {
			memmove(in, in + off, inlen - off);
			explicit_bzero(in + inlen - off, off);
			inlen -= off;
			begun = inlen != 0 ? now_ms() : 0;
		}
		if (flush(fd, &out) != 0) {
			r = gone(h.id);
			goto out;
		}
		if (done) {
			r = 0;
			goto out;
		}
		/*
		 * The deadlines, none re-armed by a byte: a whole HELLO
		 * within hello_s of the start (a peer that connects and
		 * sends nothing holds a worker that long, no longer), a
		 * frame begun within stall_s, and after HELLO a next frame
		 * within idle_s of the last one.  None: a plain read.
		 */
		which = NONE;
		if (!said_hello)
			earliest(&at, &which, started, lim->hello_s, HELLO);
		if (inlen != 0) {
			if (begun == 0)
				begun = now_ms();
			earliest(&at, &which, begun, lim->stall_s, STALL);
		} else if (said_hello) {
			if (quiet == 0)
				quiet = now_ms();
			earliest(&at, &which, quiet, lim->idle_s, IDLE);
		}
		timeout = -1;
		if (which != NONE) {
			left = at - now_ms();
			timeout = left > 0 ? (int)left : 0;
		}
		if (timeout != -1 || must_poll) {
			n = poll(&pfd, 1, timeout);
			if (n < 0 && errno == EINTR)
				continue;
			if (n == 0 && which != NONE && now_ms() >= at) {
				err = P11W_ERR_STALLED;
				if (which == HELLO)
					snprintf(reason, sizeof(reason), "no "
					    "HELLO within %u s ([pkcs11] "
					    "hello_timeout)", lim->hello_s);
				else if (which == IDLE)
					snprintf(reason, sizeof(reason), "no "
					    "call for %u s ([pkcs11] "
					    "idle_timeout)", lim->idle_s);
				else
					snprintf(reason, sizeof(reason), "a "
					    "frame not finished within %u s",
					    lim->stall_s);
				goto proto;
			}
			if (n == 0)
				continue;
		}
		n = read(fd, in + inlen, incap - inlen);
		/* a non-blocking fd: poll before the next read */
		must_poll = n < 0 && (errno == EAGAIN ||
		    errno == EWOULDBLOCK);
		if (n < 0 && (errno == EINTR || must_poll))
			continue;
		if (n < 0) {
			r = gone(h.id);
			goto out;
		}
		if (n == 0) {
			r = 0;
			goto out;
		}
		if (inlen == 0)
			begun = now_ms();
		inlen += (size_t)n;
		quiet = 0;
	}
 proto:
	mtd_log(MTD_LOG_WARNING, "pkcs11: protocol error '%s' (id %u): %s",
	    p11w_err_name((uint32_t)err), h.id, reason);
	p11w_error_frame(&out, h.id, (enum p11w_err)err, reason);
	(void)flush(fd, &out);
	r = err;
 out:
	p11srv_free(s);
	if (in != NULL) {
		explicit_bzero(in, incap);
		free(in);
	}
	p11w_buf_free(&out);
	p11w_buf_free(&reply);
	return r;
}
