/*
 * m2mtoken: client mode (docs/protocol.md, "Client mode: the PKCS#11
 * wire").  With [daemon] socket in the configuration, or
 * M2MTOKEN_DAEMON_SOCKET in the environment, funclist.c binds the C_*
 * names to the rc_C_* functions here, which forward every call to
 * m2mtokend; this process then opens no store, no backend and reads no
 * backend secret.
 *
 * One connection per process.  A call takes a waiter (its request and
 * reply buffers, kept for the next call), queues its frame (the caller
 * that finds no writer at work sends every queued frame in one sendmsg)
 * and waits for the reply with its id.  Whichever waiting
 * thread is reading hands each reply to its owner (leader/follower), so
 * no lock is held across a round trip and the threads' requests are
 * pipelined on the one socket.
 *
 * A repeated C_SignInit or C_VerifyInit may be pipelined: its frame is
 * held and leaves with the next one, its reply is taken by the reader
 * (remote_pipe.h decides when; docs/protocol.md, "Pipelined operation
 * init").
 *
 * Over 900 lines on purpose: the connection, fork handling and the
 * forwarded calls share one state (the connection, its waiters, the
 * initialised and forked flags) that a split would have to export; the
 * session table of pipelining, which needs none of it, is
 * remote_pipe.c.
 */
#define _GNU_SOURCE		/* secure_getenv */

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec.h"
#include "conf.h"
#include "err.h"
#include "log.h"
#include "p11.h"
#include "p11wire.h"
#include "remote_pipe.h"

#define RBUF_SIZE	65536		/* the reader's buffer */
#define ENV_SOCKET	"M2MTOKEN_DAEMON_SOCKET"
#define ENV_TIMEOUT_S	60		/* with the environment variable */
#define SOCKET_MAX	108		/* sizeof(sun_path) */

struct waiter {
	struct waiter	*next;
	struct waiter	*anext;		/* conn.all */
	uint32_t	 id;
	uint64_t	 seq;		/* the connection's seq'th request */
	int		 done;
	pthread_cond_t	 cv;
	struct p11w_buf	 req;		/* header and body */
	struct p11w_buf	 rep;		/* reply body */
	struct waiter	*qnext;		/* conn.outq: its frame not sent yet */
	int		 inflight;	/* a writer is sending its frame */
	int		 sent;		/* a writer took its frame */
	/*
	 * A pipelined init (remote_pipe.h): no caller waits for it; the
	 * reader (or, if its frame is still inflight, the writer) takes its
	 * reply and puts the waiter back.
	 */
	int		 detached;
	uint32_t	 call;		/* detached: the init's call */
	CK_SESSION_HANDLE sess;		/* detached: its session */
	uint64_t	 gen;		/* detached: rp_may_pipeline's */
};

struct conn {
	pthread_mutex_t	 lk;		/* what follows, but rbuf and rlen */
	pthread_mutex_t	 wlk;		/* one frame written at a time */
	int		 fd;
	int		 dead;
	int		 reading;	/* a thread is the reader */
	uint32_t	 next_id;
	uint64_t	 seq;		/* requests given an id, never wraps */
	uint32_t	 frame_max;
	unsigned int	 timeout_s;
	struct waiter	*pending;	/* written, in order */
	struct waiter	*idle;
	struct waiter	*all;		/* every waiter, whoever holds it */
	/*
	 * Frames waiting to be written, in the order of pending.  Whichever
	 * caller finds no writer at work becomes the writer and sends all
	 * that is queued with one sendmsg, again until the queue is empty:
	 * 8 threads' requests cost the daemon one wake-up, not 8.
	 */
	struct waiter	*outq;
	struct waiter	**outq_tail;
	int		 writing;
	/*
	 * Moved on (atomically) before and after every call that may change
	 * what an init answers (rp_keeps_epoch): a remembered init holds for
	 * its epoch only.
	 */
	uint64_t	 epoch;
	uint8_t		*rbuf;		/* the reader's alone */
	size_t		 rlen;
};

static pthread_once_t mode_once = PTHREAD_ONCE_INIT;
static int client_mode;
static int atfork_err;		/* pthread_atfork's, when it failed */
static char env_socket[SOCKET_MAX];

static pthread_mutex_t rc_init_lock = PTHREAD_MUTEX_INITIALIZER;
/*
 * p11wire's resize lock (p11w_set_resize_lock): held only while a frame
 * buffer's data and cap change, which call_wire (encoding a request) and
 * read_until (a reply into its waiter) do without conn.lk.
 */
static pthread_mutex_t rc_resize_lock = PTHREAD_MUTEX_INITIALIZER;
static int rc_initialized;
static int rc_forked;		/* a child: conn is the parent's copy */
/*
 * The calls in flight (rc_call, from its check of rc_initialized to its
 * return), atomic: C_Finalize sets rc_finalizing, so no call begins, and
 * waits on rc_calls_cv (rc_calls_lk) until the count is 0 before it frees
 * the connection.  PKCS#11 leaves C_Finalize during other calls
 * undefined; the module must not free what they use.
 */
static unsigned long rc_calls;
static int rc_finalizing;
static pthread_mutex_t rc_calls_lk = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t rc_calls_cv = PTHREAD_COND_INITIALIZER;
/*
 * An application that gives its own mutex functions without
 * CKF_OS_LOCKING_OK: its mutex orders the writers (the reader's hand-off
 * needs a condition variable, so it stays a pthread mutex).
 */
static CK_C_INITIALIZE_ARGS app_args;
static void *app_mutex;
static int use_app_mutex;
static struct conn conn = {
	.lk = PTHREAD_MUTEX_INITIALIZER,
	.wlk = PTHREAD_MUTEX_INITIALIZER,
	.fd = -1,
	.outq_tail = &conn.outq
};

/* ------------------------------------------------------------------ */
/* mode and fork                                                        */
/* ------------------------------------------------------------------ */

/*
 * conn.lk after rc_init_lock, as rc_C_Finalize takes them: the child
 * copies the connection's lists whole, not mid-update.  No thread holds
 * conn.lk across a read, a send or a wait (read_until, write_queued and
 * roundtrip drop it), so the fork waits for no round trip; only for one
 * that holds rc_init_lock (C_Initialize, C_Finalize), as before.  Then
 * the resize lock, last: the child's waiters point at their buffers'
 * blocks, not at one freed by a growth that another thread was in the
 * middle of (child_wipe would write into it, C_Initialize free it again),
 * nor miss a new block that already holds a copy of the frame.  Whoever
 * holds it takes no other lock.
 */
static void
atfork_prepare(void)
{
	pthread_mutex_lock(&rc_init_lock);
	pthread_mutex_lock(&conn.lk);
	pthread_mutex_lock(&rc_resize_lock);
}

static void
atfork_parent(void)
{
	pthread_mutex_unlock(&rc_resize_lock);
	pthread_mutex_unlock(&conn.lk);
	pthread_mutex_unlock(&rc_init_lock);
}

/*
 * The child's copies of the parent's requests and replies (a PIN, a
 * plaintext of a call in flight), wiped: every waiter's buffers, whoever
 * held it, and the reader's.  Freed at the child's C_Initialize.
 */
static void
child_wipe(void)
{
	struct waiter *w;

	for (w = conn.all; w != NULL; w = w->anext) {
		if (w->req.data != NULL)
			explicit_bzero(w->req.data, w->req.cap);
		w->req.len = 0;
		if (w->rep.data != NULL)
			explicit_bzero(w->rep.data, w->rep.cap);
		w->rep.len = 0;
	}
	if (conn.rbuf != NULL)
		explicit_bzero(conn.rbuf, RBUF_SIZE);
	conn.rlen = 0;
}

static void
atfork_child(void)
{
	static const pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
	static const pthread_cond_t fresh_cv = PTHREAD_COND_INITIALIZER;

	/* alone in the child: the parent's connection is not ours */
	memcpy(&rc_init_lock, &fresh, sizeof(fresh));
	memcpy(&rc_resize_lock, &fresh, sizeof(fresh));
	memcpy(&conn.lk, &fresh, sizeof(fresh));
	memcpy(&conn.wlk, &fresh, sizeof(fresh));
	memcpy(&rc_calls_lk, &fresh, sizeof(fresh));
	memcpy(&rc_calls_cv, &fresh_cv, sizeof(fresh_cv));
	rc_calls = 0;		/* the parent's threads' calls */
	rc_finalizing = 0;
	use_app_mutex = 0;	/* the parent's: left as it is */
	child_wipe();
	if (conn.fd != -1)
		(void)close(conn.fd);
	conn.fd = -1;
	conn.outq = NULL;		/* the parent's threads' frames */
	conn.outq_tail = &conn.outq;
	conn.writing = 0;
	if (rc_initialized)
		rc_forked = 1;
	__atomic_store_n(&rc_initialized, 0, __ATOMIC_RELEASE);
}

static void
mode_choose(void)
{
	const char *e = secure_getenv(ENV_SOCKET);

	if (e != NULL && *e != '\0' && strlen(e) < sizeof(env_socket)) {
		memcpy(env_socket, e, strlen(e) + 1);
		client_mode = 1;
	} else
		client_mode = m2m_conf_names_daemon(m2m_conf_default_path());
	if (client_mode) {
		p11w_set_resize_lock(&rc_resize_lock);
		atfork_err = pthread_atfork(atfork_prepare, atfork_parent,
		    atfork_child);
	}
}

/* see p11.h */
int
p11_client_mode(void)
{
	(void)pthread_once(&mode_once, mode_choose);
	return client_mode;
}

/* ------------------------------------------------------------------ */
/* the connection                                                       */
/* ------------------------------------------------------------------ */

static void
waiter_free(struct waiter *w)
{
	p11w_buf_free(&w->req);
	p11w_buf_free(&w->rep);
	free(w);
}

/*
 * Free the connection's memory (no thread uses it; in a child, also the
 * waiters the parent's threads held) and close it.
 */
static void
conn_release(int destroy_cv)
{
	struct waiter *w;

	while ((w = conn.all) != NULL) {
		conn.all = w->anext;
		if (destroy_cv)
			pthread_cond_destroy(&w->cv);
		waiter_free(w);
	}
	conn.pending = conn.idle = NULL;
	rp_clear();
	if (conn.rbuf != NULL) {
		explicit_bzero(conn.rbuf, RBUF_SIZE);
		free(conn.rbuf);
	}
	conn.rbuf = NULL;
	conn.rlen = 0;
	if (conn.fd != -1)
		(void)close(conn.fd);
	conn.fd = -1;
	conn.dead = 0;
	conn.reading = 0;
	conn.outq = NULL;
	conn.outq_tail = &conn.outq;
	conn.writing = 0;
}

/*
 * End the connection (conn.lk held, conn not dead): every call fails from
 * now on.  shutdown() wakes a reader blocked in read() and a writer
 * blocked in sendmsg(); each waiting caller is woken to see conn.dead.
 */
static void
conn_down(void)
{
	struct waiter *w;

	__atomic_store_n(&conn.dead, 1, __ATOMIC_RELEASE);
	(void)shutdown(conn.fd, SHUT_RDWR);
	for (w = conn.pending; w != NULL; w = w->next)
		pthread_cond_signal(&w->cv);
}

/*
 * The connection is lost (conn.lk held): every call fails from now on,
 * with this one log line, until C_Finalize.
 */
static void __attribute__((format(printf, 1, 2)))
conn_fail(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (conn.dead)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	m2m_error("client mode: %s; every call fails with CKR_DEVICE_ERROR "
	    "until C_Finalize", msg);
	conn_down();
}

static int
write_all(int fd, const uint8_t *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if ((w = send(fd, p, n, MSG_NOSIGNAL)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * One read (SO_RCVTIMEO is [daemon] timeout: no poll): the bytes read,
 * -1 (EOF or error) or -2 (timeout).
 */
static ssize_t
read_some(int fd, uint8_t *p, size_t n)
{
	ssize_t r;

	for (;;) {
		if ((r = read(fd, p, n)) > 0)
			return r;
		if (r == 0)
			return -1;
		if (errno == EINTR)
			continue;
		return errno == EAGAIN || errno == EWOULDBLOCK ? -2 : -1;
	}
}

/* Read until rbuf holds n bytes: 0, -1 (EOF or error), -2 (timeout). */
static int
fill(int fd, uint8_t *buf, size_t *len, size_t n)
{
	ssize_t r;

	while (*len < n) {
		if ((r = read_some(fd, buf + *len, RBUF_SIZE - *len)) < 0)
			return (int)r;
		*len += (size_t)r;
	}
	return 0;
}

/* Read exactly n bytes into p: 0, -1 (EOF or error), -2 (timeout). */
static int
read_full(int fd, uint8_t *p, size_t n)
{
	ssize_t r;

	while (n > 0) {
		if ((r = read_some(fd, p, n)) < 0)
			return (int)r;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Drop the first n bytes of rbuf (wiped). */
static void
consume(size_t n)
{
	memmove(conn.rbuf, conn.rbuf + n, conn.rlen - n);
	explicit_bzero(conn.rbuf + conn.rlen - n, n);
	conn.rlen -= n;
}

/*
 * The n bytes of the daemon's text at p as a log line may show them, into
 * out (cap > 0, NUL-terminated): each control character, C0, DEL and C1
 * (0x80..0x9f raw, or UTF-8 encoded: c2 80..c2 9f, which terminals obey
 * as they do ESC sequences), as one '?'; as the flow client shows a
 * peer's text (daemon/common/text.c, which pkcs11/ may not include).
 */
static const char *
shown(const uint8_t *p, size_t n, char *out, size_t cap)
{
	size_t i, o = 0;

	for (i = 0; i < n && o + 1 < cap; i++) {
		if (p[i] == 0xc2 && i + 1 < n && p[i + 1] >= 0x80 &&
		    p[i + 1] <= 0x9f) {
			out[o++] = '?';
			i++;
		} else if (p[i] < 0x20 || (p[i] >= 0x7f && p[i] <= 0x9f))
			out[o++] = '?';
		else
			out[o++] = (char)p[i];
	}
	out[o] = '\0';
	return out;
}

static void
lost(int r)
{
	if (r == -2)
		conn_fail("no reply from m2mtokend within %u s ([daemon] "
		    "timeout)", conn.timeout_s);
	else
		conn_fail("the connection to m2mtokend was lost");
}

/* rbuf holds a whole reply frame (the reader's own check). */
static int
whole_frame(void)
{
	struct p11w_hdr h;

	if (conn.rlen < P11W_HDR_LEN)
		return 0;
	p11w_hdr_get(conn.rbuf, &h);
	return h.len <= conn.rlen - P11W_HDR_LEN;
}

/* Put w back on the idle list, its buffers wiped (conn.lk held). */
static void
waiter_recycle(struct waiter *w)
{
	p11w_buf_reset(&w->req);
	p11w_buf_reset(&w->rep);
	w->detached = 0;
	w->next = conn.idle;
	conn.idle = w;
}

/*
 * The reply to a pipelined init, read whole into t (conn.lk held): an
 * error becomes its session's pending error, with one log line.  t goes
 * back to the idle list unless a writer still holds it (write_queued
 * puts it back then).
 */
static void
detached_reply(struct waiter *t)
{
	struct p11w_rd r;
	uint64_t rv;

	p11w_rd_init(&r, t->rep.data, t->rep.len);
	if (p11w_get_u64(&r, &rv) != 0)
		conn_fail("the reply to a pipelined %s does not decode",
		    p11w_call_name(t->call));
	else if (rp_init_reply(t->call, t->sess, t->gen, t->id, rv))
		m2m_error("client mode: a pipelined %s on session %lu failed "
		    "with CKR 0x%lx (the key or its rights changed since the "
		    "same init succeeded): the next call of that operation "
		    "on the session returns it", p11w_call_name(t->call),
		    (unsigned long)t->sess, (unsigned long)rv);
	if (!t->inflight)
		waiter_recycle(t);
}

/* Wake the first waiting caller, to read on (conn.lk held). */
static void
wake_reader(void)
{
	struct waiter *t;

	for (t = conn.pending; t != NULL && t->detached; t = t->next)
		;
	if (t != NULL)
		pthread_cond_signal(&t->cv);
}

/*
 * Read replies and hand them to their waiters until w has its own, then
 * hand on the replies already read whole (conn.lk held on entry and
 * exit, dropped while reading).
 */
static void
read_until(struct waiter *w)
{
	struct p11w_hdr h;
	struct waiter *t, **tp;
	uint8_t *dst;
	size_t take, got;
	char text[256];
	int r;

	while (!conn.dead && (!w->done || (conn.pending != NULL &&
	    whole_frame()))) {
		pthread_mutex_unlock(&conn.lk);
		r = fill(conn.fd, conn.rbuf, &conn.rlen, P11W_HDR_LEN);
		if (r == 0) {
			p11w_hdr_get(conn.rbuf, &h);
			if (h.code != P11W_OK && h.len <= 200)
				(void)fill(conn.fd, conn.rbuf, &conn.rlen,
				    P11W_HDR_LEN + h.len);
		}
		pthread_mutex_lock(&conn.lk);
		if (r != 0) {
			lost(r);
			return;
		}
		if (h.code != P11W_OK) {
			take = conn.rlen - P11W_HDR_LEN;
			conn_fail("m2mtokend ended the connection: %s: %s",
			    p11w_err_name(h.code), shown(conn.rbuf +
			    P11W_HDR_LEN, take < h.len ? take : h.len, text,
			    sizeof(text)));
			return;
		}
		if (h.len > conn.frame_max) {
			conn_fail("a reply of %u bytes, over frame_max %u",
			    h.len, conn.frame_max);
			return;
		}
		/*
		 * The reply's request: the worker's pool may answer out of
		 * order (pending holds at most one request per thread).
		 */
		for (tp = &conn.pending; (t = *tp) != NULL && t->id != h.id;
		    tp = &t->next)
			;
		if (t == NULL) {
			conn_fail("a reply to no request (id %u)", h.id);
			return;
		}
		/* still queued (a held init): only an impostor knows its id */
		if (!t->sent) {
			conn_fail("a reply to a request not sent yet (id %u)",
			    h.id);
			return;
		}
		pthread_mutex_unlock(&conn.lk);
		/* the body: what rbuf holds, the rest read into place */
		p11w_buf_reset(&t->rep);
		r = -1;
		if ((dst = p11w_put_space(&t->rep, h.len)) != NULL) {
			got = conn.rlen - P11W_HDR_LEN;
			take = got < h.len ? got : h.len;
			memcpy(dst, conn.rbuf + P11W_HDR_LEN, take);
			consume(P11W_HDR_LEN + take);
			r = read_full(conn.fd, dst + take, h.len - take);
		}
		pthread_mutex_lock(&conn.lk);
		if (r != 0) {
			if (dst == NULL)
				conn_fail("out of memory for a reply");
			else
				lost(r);
			return;
		}
		/* pending may have changed while the lock was dropped */
		for (tp = &conn.pending; *tp != NULL && *tp != t;
		    tp = &(*tp)->next)
			;
		if (*tp == t)
			*tp = t->next;
		t->done = 1;
		if (t->detached)
			detached_reply(t);
		else if (t != w)
			pthread_cond_signal(&t->cv);
	}
}

static void
write_lock(void)
{
	if (use_app_mutex)
		(void)app_args.LockMutex(app_mutex);
	else
		pthread_mutex_lock(&conn.wlk);
}

static void
write_unlock(void)
{
	if (use_app_mutex)
		(void)app_args.UnlockMutex(app_mutex);
	else
		pthread_mutex_unlock(&conn.wlk);
}

/* The application's mutex functions, when it wants them used. */
static CK_RV
app_mutex_open(CK_VOID_PTR pInitArgs)
{
	CK_C_INITIALIZE_ARGS *a = pInitArgs;

	use_app_mutex = 0;
	if (a == NULL || a->CreateMutex == NULL ||
	    (a->flags & CKF_OS_LOCKING_OK) != 0)
		return CKR_OK;
	app_args = *a;
	if (a->CreateMutex(&app_mutex) != CKR_OK)
		return CKR_CANT_LOCK;
	use_app_mutex = 1;
	return CKR_OK;
}

static void
app_mutex_close(void)
{
	if (use_app_mutex)
		(void)app_args.DestroyMutex(app_mutex);
	use_app_mutex = 0;
}

/*
 * Send the queued frames, as the writer (conn.lk held; dropped while
 * sending): up to BATCH_MAX frames per sendmsg, until the queue is
 * empty.  The waiters of a batch stay inflight (they do not return, so
 * their buffers stay) until their bytes are with the kernel.
 * MSG_NOSIGNAL, as write_all: a daemon that closed the connection
 * (restart, [pkcs11] idle_timeout) is an EPIPE and CKR_DEVICE_ERROR,
 * never a SIGPIPE that kills the application.
 */
#define BATCH_MAX	64

static void
write_queued(void)
{
	struct iovec iov[BATCH_MAX];
	struct msghdr msg;
	struct waiter *batch[BATCH_MAX], *w;
	char eb[128];
	ssize_t n;
	size_t k, i, off;
	int failed;

	while (conn.outq != NULL && !conn.dead) {
		for (k = 0; k < BATCH_MAX && (w = conn.outq) != NULL; k++) {
			conn.outq = w->qnext;
			w->inflight = 1;
			w->sent = 1;
			batch[k] = w;
			iov[k].iov_base = w->req.data;
			iov[k].iov_len = w->req.len;
		}
		if (conn.outq == NULL)
			conn.outq_tail = &conn.outq;
		pthread_mutex_unlock(&conn.lk);
		failed = 0;
		for (off = 0; off < k && !failed; ) {
			memset(&msg, 0, sizeof(msg));
			msg.msg_iov = iov + off;
			msg.msg_iovlen = k - off;
			n = sendmsg(conn.fd, &msg, MSG_NOSIGNAL);
			if (n < 0) {
				if (errno != EINTR)
					failed = errno;
				continue;
			}
			/* a short write: skip what went, go on */
			while (off < k && (size_t)n >= iov[off].iov_len) {
				n -= (ssize_t)iov[off].iov_len;
				off++;
			}
			if (off < k) {
				iov[off].iov_base = (uint8_t *)iov[off].iov_base +
				    n;
				iov[off].iov_len -= (size_t)n;
			}
		}
		pthread_mutex_lock(&conn.lk);
		if (failed)
			conn_fail("cannot send to m2mtokend: %s",
			    strerror_r(failed, eb, sizeof(eb)));
		for (i = 0; i < k; i++) {
			batch[i]->inflight = 0;
			if (!batch[i]->detached)
				pthread_cond_signal(&batch[i]->cv);
			else if (batch[i]->done)
				waiter_recycle(batch[i]);
		}
	}
	if (conn.dead) {
		/* their owners see conn.dead; nothing of theirs is sent */
		conn.outq = NULL;
		conn.outq_tail = &conn.outq;
	}
}

/*
 * Give w an id, put it at the end of pending and complete its header
 * (conn.lk held).
 */
static void
pending_add(struct waiter *w)
{
	struct p11w_hdr h;
	struct waiter **pp;

	if ((w->id = conn.next_id++) == 0)
		w->id = conn.next_id++;
	w->seq = ++conn.seq;
	w->sent = 0;
	w->done = 0;
	w->next = NULL;
	for (pp = &conn.pending; *pp != NULL; pp = &(*pp)->next)
		;
	*pp = w;
	p11w_hdr_get(w->req.data, &h);
	h.len = (uint32_t)(w->req.len - P11W_HDR_LEN);
	h.id = w->id;
	p11w_hdr_put(w->req.data, &h);
}

/*
 * Hold w, the frame of a pipelined init of call on session h (conn.lk
 * held, conn not dead, no application mutex): it leaves with the next
 * frame any thread sends, its reply goes to detached_reply.
 */
static void
hold(struct waiter *w, uint32_t call, CK_SESSION_HANDLE h, uint64_t gen)
{
	pending_add(w);
	w->detached = 1;
	w->call = call;
	w->sess = h;
	w->gen = gen;
	w->qnext = NULL;
	*conn.outq_tail = w;
	conn.outq_tail = &w->qnext;
	rp_pipelined(call, h, w->id, w->seq);
}

/*
 * Drop the held frames (conn.lk held, no writer at work: C_Finalize):
 * an init has no effect beyond its session.
 */
static void
drop_held(void)
{
	struct waiter *w, **qp, **pp;

	for (qp = &conn.outq; (w = *qp) != NULL; ) {
		if (!w->detached) {
			qp = &w->qnext;
			continue;
		}
		*qp = w->qnext;
		for (pp = &conn.pending; *pp != NULL && *pp != w;
		    pp = &(*pp)->next)
			;
		if (*pp == w)
			*pp = w->next;
		waiter_recycle(w);
	}
	conn.outq_tail = qp;
}

/* Send w's frame and wait for its reply: 0, or -1 (conn is dead). */
static int
roundtrip(struct waiter *w)
{
	struct waiter **pp;
	char eb[128];
	int ok;

	if (use_app_mutex)
		write_lock();
	pthread_mutex_lock(&conn.lk);
	if (conn.dead) {
		pthread_mutex_unlock(&conn.lk);
		if (use_app_mutex)
			write_unlock();
		return -1;
	}
	pending_add(w);
	if (use_app_mutex) {
		/* the application's mutex orders the writers */
		w->sent = 1;
		pthread_mutex_unlock(&conn.lk);
		if (write_all(conn.fd, w->req.data, w->req.len) != 0) {
			pthread_mutex_lock(&conn.lk);
			conn_fail("cannot send to m2mtokend: %s",
			    strerror_r(errno, eb, sizeof(eb)));
			pthread_mutex_unlock(&conn.lk);
		}
		write_unlock();
		pthread_mutex_lock(&conn.lk);
	} else {
		w->qnext = NULL;
		*conn.outq_tail = w;
		conn.outq_tail = &w->qnext;
		if (!conn.writing) {
			conn.writing = 1;
			write_queued();
			conn.writing = 0;
		}
	}

	while ((!w->done && !conn.dead) || w->inflight) {
		if (!conn.reading && !w->done && !conn.dead) {
			conn.reading = 1;
			read_until(w);
			conn.reading = 0;
			/* the next waiting thread reads on */
			wake_reader();
		} else
			pthread_cond_wait(&w->cv, &conn.lk);
	}
	ok = w->done;
	if (!ok) {
		for (pp = &conn.pending; *pp != NULL; pp = &(*pp)->next) {
			if (*pp == w) {
				*pp = w->next;
				break;
			}
		}
	}
	pthread_mutex_unlock(&conn.lk);
	return ok ? 0 : -1;
}

static struct waiter *
waiter_get(void)
{
	struct waiter *w;

	pthread_mutex_lock(&conn.lk);
	if ((w = conn.idle) != NULL)
		conn.idle = w->next;
	pthread_mutex_unlock(&conn.lk);
	if (w != NULL)
		return w;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	if (pthread_cond_init(&w->cv, NULL) != 0) {
		free(w);
		return NULL;
	}
	p11w_buf_init(&w->req, (size_t)conn.frame_max + P11W_HDR_LEN);
	p11w_buf_init(&w->rep, conn.frame_max);
	pthread_mutex_lock(&conn.lk);
	w->anext = conn.all;
	conn.all = w;
	pthread_mutex_unlock(&conn.lk);
	return w;
}

static void
waiter_put(struct waiter *w)
{
	p11w_buf_reset(&w->req);
	p11w_buf_reset(&w->rep);
	pthread_mutex_lock(&conn.lk);
	w->next = conn.idle;
	conn.idle = w;
	pthread_mutex_unlock(&conn.lk);
}

/*
 * The operation a call ends when it fails (PKCS#11 5.2): the flag of
 * C_SessionCancel that ends it too, or 0.
 */
static CK_FLAGS
op_flag(uint32_t call)
{
	switch (call) {
	case P11W_CALL_C_Encrypt:
	case P11W_CALL_C_EncryptUpdate:
	case P11W_CALL_C_EncryptFinal:
		return CKF_ENCRYPT;
	case P11W_CALL_C_Decrypt:
	case P11W_CALL_C_DecryptUpdate:
	case P11W_CALL_C_DecryptFinal:
		return CKF_DECRYPT;
	case P11W_CALL_C_Digest:
	case P11W_CALL_C_DigestUpdate:
	case P11W_CALL_C_DigestFinal:
		return CKF_DIGEST;
	case P11W_CALL_C_Sign:
	case P11W_CALL_C_SignUpdate:
	case P11W_CALL_C_SignFinal:
		return CKF_SIGN;
	case P11W_CALL_C_Verify:
	case P11W_CALL_C_VerifyUpdate:
	case P11W_CALL_C_VerifyFinal:
		return CKF_VERIFY;
	}
	return 0;
}

static CK_RV	call_wire(uint32_t call, struct p11w_arg *a);

/*
 * A call refused here, never sent (its arguments do not fit a frame),
 * ends the session's operation as the local module's refusal would: the
 * worker is told with C_SessionCancel.
 */
static void
op_end(uint32_t call, struct p11w_arg *a)
{
	struct p11w_arg c[2];
	CK_FLAGS f;

	if ((f = op_flag(call)) == 0 || a == NULL)
		return;
	memset(c, 0, sizeof(c));
	c[0].v = a[0].v;	/* the session: every such call's first */
	c[1].v = f;
	(void)call_wire(P11W_CALL_C_SessionCancel, c);
}

/* The operation of a C_SessionCancel that undoes call's, or 0. */
static CK_FLAGS
cancel_flag(uint32_t call)
{
	if (call == P11W_CALL_C_SignInit)
		return CKF_SIGN;
	if (call == P11W_CALL_C_VerifyInit)
		return CKF_VERIFY;
	return op_flag(call);
}

/*
 * The reply to call, with the table of pipelined inits (remote_pipe.h):
 * a pending error of the operation replaces the call's own result (whose
 * outputs are then left alone).  *ret_cancel: 1 when the daemon answered
 * CKR_OK to a call whose caller is told it failed (its operation must
 * end).  conn.lk held.
 */
static CK_RV
reply_tracked(uint32_t call, struct p11w_arg *a, uint64_t seq,
    struct p11w_rd *r, uint64_t epoch0, int *ret_cancel)
{
	uint64_t own;
	CK_RV rv, pend;
	int overtaken, earlier;

	*ret_cancel = 0;
	pend = rp_take_pending(call, a, seq, &overtaken, &earlier);
	if (overtaken) {
		conn_fail("the reply to %s came before the one to a pipelined "
		    "init sent earlier", p11w_call_name(call));
		return CKR_DEVICE_ERROR;
	}
	if (pend != CKR_OK) {
		rv = pend;
		*ret_cancel = p11w_get_u64(r, &own) == 0 && own == CKR_OK &&
		    cancel_flag(call) != 0;
	} else if (p11w_reply_decode(r, call, a, &rv) != 0) {
		conn_fail("the reply to %s does not decode",
		    p11w_call_name(call));
		return CKR_DEVICE_ERROR;
	}
	rp_after(call, a, rv, pend != CKR_OK || earlier, epoch0,
	    __atomic_load_n(&conn.epoch, __ATOMIC_ACQUIRE));
	return rv;
}

/* One call over the wire: a[] as p11w_req_encode takes it. */
static CK_RV
call_wire(uint32_t call, struct p11w_arg *a)
{
	struct p11w_arg c[2];
	struct waiter *w;
	struct p11w_rd r;
	uint64_t epoch0, gen;
	uint8_t *h;
	CK_RV rv;
	int keeps = rp_keeps_epoch(call), cancel = 0, track;

	track = a != NULL && rp_tracks(call);
	if (__atomic_load_n(&conn.dead, __ATOMIC_ACQUIRE))
		return CKR_DEVICE_ERROR;
	if (call == P11W_CALL_C_GenerateRandom &&
	    a[1].v > conn.frame_max - P11W_REPLY_SLACK) {
		m2m_error("client mode: C_GenerateRandom of %lu bytes does "
		    "not fit a frame of %u bytes (m2mtokend's [pkcs11] "
		    "frame_max)", (unsigned long)a[1].v, conn.frame_max);
		return CKR_DATA_LEN_RANGE;
	}
	/* what the worker would call malformed, dropping the connection */
	if (a != NULL && (rv = p11w_req_check(call, a, conn.frame_max)) !=
	    CKR_OK) {
		m2m_info("client mode: %s: a GCM IV over %u bytes (m2mtokend's "
		    "[pkcs11] frame_max - %d) is refused", p11w_call_name(call),
		    conn.frame_max - P11W_REPLY_SLACK, P11W_REPLY_SLACK);
		return rv;
	}
	if (!keeps)
		(void)__atomic_add_fetch(&conn.epoch, 1, __ATOMIC_ACQ_REL);
	epoch0 = __atomic_load_n(&conn.epoch, __ATOMIC_ACQUIRE);
	if ((w = waiter_get()) == NULL)
		return CKR_HOST_MEMORY;
	if ((h = p11w_put_space(&w->req, P11W_HDR_LEN)) != NULL)
		p11w_hdr_put(h, &(struct p11w_hdr){ 0, 0, call });
	rv = CKR_OK;
	if (a != NULL)
		rv = p11w_req_encode(&w->req, call, a);
	if (rv == CKR_OK && w->req.failed)
		rv = CKR_HOST_MEMORY;
	if (rv != CKR_OK) {
		/* out of memory is CKR_HOST_MEMORY, without that line */
		if (w->req.failed && !w->req.nomem)
			m2m_error("client mode: the arguments of %s do not "
			    "fit a frame of %u bytes (m2mtokend's [pkcs11] "
			    "frame_max)", p11w_call_name(call),
			    conn.frame_max);
		waiter_put(w);
		op_end(call, a);
		return rv;
	}
	if (track && !use_app_mutex && (call == P11W_CALL_C_SignInit ||
	    call == P11W_CALL_C_VerifyInit)) {
		/* a repeated init: its frame leaves with the next one */
		pthread_mutex_lock(&conn.lk);
		if (!conn.dead && rp_may_pipeline(call, a,
		    __atomic_load_n(&conn.epoch, __ATOMIC_ACQUIRE), &gen)) {
			hold(w, call, a[0].v, gen);
			pthread_mutex_unlock(&conn.lk);
			return CKR_OK;
		}
		pthread_mutex_unlock(&conn.lk);
	}
	if (roundtrip(w) != 0) {
		rv = CKR_DEVICE_ERROR;
		goto out;
	}
	p11w_rd_init(&r, w->rep.data, w->rep.len);
	pthread_mutex_lock(&conn.lk);
	if (track)
		rv = reply_tracked(call, a, w->seq, &r, epoch0, &cancel);
	else if (p11w_reply_decode(&r, call, a, &rv) != 0) {
		conn_fail("the reply to %s does not decode",
		    p11w_call_name(call));
		rv = CKR_DEVICE_ERROR;
	}
	pthread_mutex_unlock(&conn.lk);
 out:
	waiter_put(w);
	if (cancel) {
		/* the daemon began what the caller is told failed */
		memset(c, 0, sizeof(c));
		c[0].v = a[0].v;
		c[1].v = cancel_flag(call);
		(void)call_wire(P11W_CALL_C_SessionCancel, c);
	}
	if (!keeps)
		(void)__atomic_add_fetch(&conn.epoch, 1, __ATOMIC_ACQ_REL);
	return rv;
}

/*
 * A call begins (rc_calls): 0, or -1 when the module is not initialised
 * or C_Finalize has begun.  Sequentially consistent with rc_C_Finalize:
 * either C_Finalize sees this call in the count, or this call sees
 * rc_finalizing.
 */
static int
call_enter(void)
{
	if (!__atomic_load_n(&rc_initialized, __ATOMIC_ACQUIRE))
		return -1;
	(void)__atomic_add_fetch(&rc_calls, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&rc_finalizing, __ATOMIC_SEQ_CST) ||
	    !__atomic_load_n(&rc_initialized, __ATOMIC_ACQUIRE)) {
		(void)__atomic_sub_fetch(&rc_calls, 1, __ATOMIC_SEQ_CST);
		pthread_mutex_lock(&rc_calls_lk);
		pthread_cond_broadcast(&rc_calls_cv);
		pthread_mutex_unlock(&rc_calls_lk);
		return -1;
	}
	return 0;
}

/* The call has ended: the last one wakes a C_Finalize that waits. */
static void
call_leave(void)
{
	if (__atomic_sub_fetch(&rc_calls, 1, __ATOMIC_SEQ_CST) == 0 &&
	    __atomic_load_n(&rc_finalizing, __ATOMIC_SEQ_CST)) {
		pthread_mutex_lock(&rc_calls_lk);
		pthread_cond_broadcast(&rc_calls_cv);
		pthread_mutex_unlock(&rc_calls_lk);
	}
}

/*
 * The C arguments of call, in the order of its signature (codec.h), into
 * a[]; then the call.  A call that C_Finalize cut short returns
 * CKR_CRYPTOKI_NOT_INITIALIZED (as PKCS#11 has it for a
 * C_WaitForSlotEvent that C_Finalize ends).
 */
static CK_RV
rc_call(uint32_t call, ...)
{
	struct p11w_arg a[P11W_MAX_ARGS];
	const char *sig = p11w_call_sig(call);
	va_list ap;
	CK_RV rv;
	int i;

	if (call_enter() != 0)
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	va_start(ap, call);
	for (i = 0; sig[i] != '\0'; i++) {
		a[i].p = NULL;
		a[i].lp = NULL;
		a[i].v = 0;
		switch (sig[i]) {
		case 'u':
			a[i].v = va_arg(ap, CK_ULONG);
			break;
		case 'B':
			a[i].v = (CK_BBOOL)va_arg(ap, int);
			break;
		case 'b':
		case 'r':
		case 't':
		case 'q':
			a[i].p = va_arg(ap, void *);
			a[i].v = va_arg(ap, CK_ULONG);
			break;
		case 'o':
		case 'l':
			a[i].p = va_arg(ap, void *);
			a[i].lp = va_arg(ap, CK_ULONG *);
			break;
		case 'f':
			a[i].p = va_arg(ap, void *);
			a[i].v = va_arg(ap, CK_ULONG);
			a[i].lp = va_arg(ap, CK_ULONG *);
			break;
		default:	/* L, m, p and the info structs */
			a[i].p = va_arg(ap, void *);
			break;
		}
	}
	va_end(ap);
	rv = call_wire(call, a);
	if (rv == CKR_DEVICE_ERROR &&
	    __atomic_load_n(&rc_finalizing, __ATOMIC_SEQ_CST))
		rv = CKR_CRYPTOKI_NOT_INITIALIZED;
	call_leave();
	return rv;
}

/* ------------------------------------------------------------------ */
/* C_Initialize, C_Finalize                                             */
/* ------------------------------------------------------------------ */

/* Read one frame whole (HELLO time, before any reader runs). */
static int
read_frame(struct p11w_hdr *h, uint8_t *body, size_t cap)
{
	int r;

	if ((r = fill(conn.fd, conn.rbuf, &conn.rlen, P11W_HDR_LEN)) != 0)
		return r;
	p11w_hdr_get(conn.rbuf, h);
	if (h->len > cap)
		return -1;
	if ((r = fill(conn.fd, conn.rbuf, &conn.rlen,
	    P11W_HDR_LEN + h->len)) != 0)
		return r;
	memcpy(body, conn.rbuf + P11W_HDR_LEN, h->len);
	consume(P11W_HDR_LEN + h->len);
	return 0;
}

/* Connect to path and say HELLO: CKR_OK or CKR_DEVICE_ERROR (logged). */
static CK_RV
conn_open(const char *path, unsigned int timeout_s)
{
	struct sockaddr_un sun;
	struct timeval tv;
	struct p11w_buf b, f;
	struct p11w_hdr h;
	struct p11w_hello hello;
	uint8_t body[256];
	char reason[256], eb[128];
	CK_RV rv = CKR_DEVICE_ERROR;
	int e, r;

	p11w_buf_init(&b, 256);
	p11w_buf_init(&f, 256);
	conn.timeout_s = timeout_s;
	conn.dead = 0;
	conn.next_id = 1;
	conn.frame_max = P11W_FRAME_MIN;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		m2m_error("client mode: socket path too long");
		goto out;
	}
	memcpy(sun.sun_path, path, strlen(path));
	if ((conn.rbuf = malloc(RBUF_SIZE)) == NULL) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	conn.rlen = 0;
	if ((conn.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(conn.fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		m2m_error("client mode: cannot connect to m2mtokend at %s: "
		    "%s", path, strerror_r(errno, eb, sizeof(eb)));
		goto out;
	}
	/* without them a read or write could block for ever */
	tv.tv_sec = timeout_s;
	tv.tv_usec = 0;
	if (setsockopt(conn.fd, SOL_SOCKET, SO_SNDTIMEO, &tv,
	    sizeof(tv)) != 0 || setsockopt(conn.fd, SOL_SOCKET, SO_RCVTIMEO,
	    &tv, sizeof(tv)) != 0) {
		m2m_error("client mode: cannot set the socket's timeouts "
		    "([daemon] timeout %u s): %s", timeout_s,
		    strerror_r(errno, eb, sizeof(eb)));
		goto out;
	}
	p11w_hello_request(&b);
	p11w_frame(&f, 0, P11W_CALL_HELLO, b.data, b.len);
	if (b.failed || f.failed) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	if (write_all(conn.fd, f.data, f.len) != 0) {
		/*
		 * A daemon that refuses a connection (busy, denied) sends its
		 * error frame and closes at once, maybe before the HELLO is
		 * sent: its reason is still there to read.
		 */
		e = errno;
		if (read_frame(&h, body, sizeof(body) - 1) != 0 ||
		    h.code == P11W_OK) {
			m2m_error("client mode: cannot send HELLO to m2mtokend "
			    "at %s: %s", path, strerror_r(e, eb, sizeof(eb)));
			goto out;
		}
	} else if ((r = read_frame(&h, body, sizeof(body) - 1)) != 0) {
		m2m_error("client mode: no HELLO from m2mtokend at %s (%s)",
		    path, r == -2 ? "timeout" : "connection closed");
		goto out;
	}
	if (h.code != P11W_OK) {
		m2m_error("client mode: m2mtokend at %s refused the "
		    "connection: %s: %s", path, p11w_err_name(h.code),
		    shown(body, h.len, reason, sizeof(reason)));
		goto out;
	}
	if (p11w_hello_reply_check(body, h.len, &hello, reason,
	    sizeof(reason)) != P11W_OK) {
		m2m_error("client mode: m2mtokend at %s: %s", path, reason);
		goto out;
	}
	conn.frame_max = hello.frame_max;
	rv = CKR_OK;
 out:
	p11w_buf_free(&b);
	p11w_buf_free(&f);
	if (rv != CKR_OK)
		conn_release(1);
	return rv;
}

CK_RV
rc_C_Initialize(CK_VOID_PTR pInitArgs)
{
	struct m2m_conf *conf = NULL;
	const char *path = env_socket;
	unsigned int timeout = ENV_TIMEOUT_S;
	char err[512] = "";
	CK_RV rv;
	int r;

	pthread_mutex_lock(&rc_init_lock);
	if (rc_initialized) {
		rv = CKR_CRYPTOKI_ALREADY_INITIALIZED;
		goto out;
	}
	/*
	 * Without its fork handlers a child would use the parent's
	 * connection: registered at the mode's choice, again here if that
	 * failed (only ENOMEM can fail it).
	 */
	if (atfork_err != 0 && (atfork_err = pthread_atfork(atfork_prepare,
	    atfork_parent, atfork_child)) != 0) {
		m2m_log_from_env();
		m2m_error("client mode: cannot register the fork handlers "
		    "(pthread_atfork): %s", strerror_r(atfork_err, err,
		    sizeof(err)));
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	if (rc_forked) {
		/* the parent's waiters and buffers: memory of ours now */
		conn_release(0);
		rc_forked = 0;
	}
	if ((rv = p11_init_args_check(pInitArgs)) != CKR_OK)
		goto out;
	m2m_log_from_env();
	if ((rv = app_mutex_open(pInitArgs)) != CKR_OK)
		goto out;
	if (env_socket[0] == '\0') {
		if ((r = m2m_conf_load(m2m_conf_default_path(), &conf, err,
		    sizeof(err))) != 0) {
			m2m_error("%s", err);
			rv = p11_rv_in(P11_RV_OPEN, r);
			goto out;
		}
		if (conf->log_level_set &&
		    getenv("M2MTOKEN_LOG_LEVEL") == NULL)
			m2m_log_set_level(conf->log_level);
		if (conf->daemon_socket == NULL) {
			m2m_error("%s: [daemon] socket is gone", conf->path);
			rv = CKR_GENERAL_ERROR;
			goto out;
		}
		path = conf->daemon_socket;
		timeout = conf->daemon_timeout;
	}
	if ((rv = conn_open(path, timeout)) != CKR_OK)
		goto out;
	if ((rv = call_wire(P11W_CALL_C_Initialize, NULL)) != CKR_OK) {
		conn_release(1);
		goto out;
	}
	__atomic_store_n(&rc_finalizing, 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&rc_initialized, 1, __ATOMIC_RELEASE);
 out:
	if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED)
		app_mutex_close();
	pthread_mutex_unlock(&rc_init_lock);
	m2m_conf_free(conf);
	return rv;
}

/*
 * No call begins from now on; with none in flight, the daemon gets
 * C_Finalize.  With calls in flight (other threads: PKCS#11 leaves that
 * undefined) the connection is ended instead, which wakes them: their
 * calls return CKR_CRYPTOKI_NOT_INITIALIZED, and the worker finalises
 * its module when the connection closes.  Then wait until every call has
 * left the module's memory.
 */
CK_RV
rc_C_Finalize(CK_VOID_PTR pReserved)
{
	unsigned long n;
	CK_RV rv = CKR_OK;

	if (pReserved != NULL)
		return CKR_ARGUMENTS_BAD;
	pthread_mutex_lock(&rc_init_lock);
	if (!rc_initialized) {
		rv = CKR_CRYPTOKI_NOT_INITIALIZED;
		goto out;
	}
	__atomic_store_n(&rc_finalizing, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_lock(&conn.lk);
	if ((n = __atomic_load_n(&rc_calls, __ATOMIC_SEQ_CST)) == 0)
		drop_held();
	else if (!conn.dead) {
		m2m_info("client mode: C_Finalize while %lu call%s in "
		    "flight: ended with CKR_CRYPTOKI_NOT_INITIALIZED", n,
		    n == 1 ? " is" : "s are");
		conn_down();
	}
	pthread_mutex_unlock(&conn.lk);
	if (n == 0)
		(void)call_wire(P11W_CALL_C_Finalize, NULL);
	pthread_mutex_lock(&rc_calls_lk);
	while (__atomic_load_n(&rc_calls, __ATOMIC_SEQ_CST) != 0)
		pthread_cond_wait(&rc_calls_cv, &rc_calls_lk);
	pthread_mutex_unlock(&rc_calls_lk);
	__atomic_store_n(&rc_initialized, 0, __ATOMIC_RELEASE);
	conn_release(1);
	app_mutex_close();
	__atomic_store_n(&rc_finalizing, 0, __ATOMIC_SEQ_CST);
 out:
	pthread_mutex_unlock(&rc_init_lock);
	return rv;
}

/* ------------------------------------------------------------------ */
/* the forwarded calls                                                  */
/* ------------------------------------------------------------------ */

/* rc_<name>: the arguments as the signature of name takes them */
#define RC(name, params, ...)						\
	CK_RV								\
	rc_##name params						\
	{								\
		return rc_call(P11W_CALL_##name, __VA_ARGS__);		\
	}

RC(C_GetInfo, (CK_INFO_PTR i), i)
RC(C_GetSlotList, (CK_BBOOL present, CK_SLOT_ID_PTR l, CK_ULONG_PTR n),
    (int)present, l, n)
RC(C_GetSlotInfo, (CK_SLOT_ID s, CK_SLOT_INFO_PTR i), s, i)
RC(C_GetTokenInfo, (CK_SLOT_ID s, CK_TOKEN_INFO_PTR i), s, i)
RC(C_GetMechanismList, (CK_SLOT_ID s, CK_MECHANISM_TYPE_PTR l,
    CK_ULONG_PTR n), s, l, n)
RC(C_GetMechanismInfo, (CK_SLOT_ID s, CK_MECHANISM_TYPE t,
    CK_MECHANISM_INFO_PTR i), s, t, i)
RC(C_InitToken, (CK_SLOT_ID s, CK_UTF8CHAR_PTR pin, CK_ULONG n,
    CK_UTF8CHAR_PTR label), s, pin, n, label)
RC(C_InitPIN, (CK_SESSION_HANDLE h, CK_UTF8CHAR_PTR pin, CK_ULONG n),
    h, pin, n)
RC(C_SetPIN, (CK_SESSION_HANDLE h, CK_UTF8CHAR_PTR o, CK_ULONG ol,
    CK_UTF8CHAR_PTR n, CK_ULONG nl), h, o, ol, n, nl)
RC(C_CloseSession, (CK_SESSION_HANDLE h), h)
RC(C_CloseAllSessions, (CK_SLOT_ID s), s)
RC(C_GetSessionInfo, (CK_SESSION_HANDLE h, CK_SESSION_INFO_PTR i), h, i)
RC(C_GetOperationState, (CK_SESSION_HANDLE h, CK_BYTE_PTR o,
    CK_ULONG_PTR ol), h, o, ol)
RC(C_SetOperationState, (CK_SESSION_HANDLE h, CK_BYTE_PTR s, CK_ULONG sl,
    CK_OBJECT_HANDLE e, CK_OBJECT_HANDLE a), h, s, sl, e, a)
RC(C_Login, (CK_SESSION_HANDLE h, CK_USER_TYPE u, CK_UTF8CHAR_PTR pin,
    CK_ULONG n), h, u, pin, n)
RC(C_Logout, (CK_SESSION_HANDLE h), h)
RC(C_CreateObject, (CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR t, CK_ULONG n,
    CK_OBJECT_HANDLE_PTR o), h, t, n, o)
RC(C_CopyObject, (CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o,
    CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_OBJECT_HANDLE_PTR no), h, o, t, n, no)
RC(C_DestroyObject, (CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o), h, o)
RC(C_GetObjectSize, (CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o,
    CK_ULONG_PTR n), h, o, n)
RC(C_GetAttributeValue, (CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o,
    CK_ATTRIBUTE_PTR t, CK_ULONG n), h, o, t, n)
RC(C_SetAttributeValue, (CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o,
    CK_ATTRIBUTE_PTR t, CK_ULONG n), h, o, t, n)
RC(C_FindObjectsInit, (CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR t,
    CK_ULONG n), h, t, n)
RC(C_FindObjects, (CK_SESSION_HANDLE h, CK_OBJECT_HANDLE_PTR l, CK_ULONG m,
    CK_ULONG_PTR n), h, l, m, n)
RC(C_FindObjectsFinal, (CK_SESSION_HANDLE h), h)
RC(C_DigestInit, (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m), h, m)
RC(C_DigestKey, (CK_SESSION_HANDLE h, CK_OBJECT_HANDLE k), h, k)
RC(C_Verify, (CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG dl,
    CK_BYTE_PTR s, CK_ULONG sl), h, d, dl, s, sl)
RC(C_GenerateKey, (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m,
    CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_OBJECT_HANDLE_PTR k), h, m, t, n, k)
RC(C_GenerateKeyPair, (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m,
    CK_ATTRIBUTE_PTR pt, CK_ULONG pn, CK_ATTRIBUTE_PTR st, CK_ULONG sn,
    CK_OBJECT_HANDLE_PTR pk, CK_OBJECT_HANDLE_PTR sk), h, m, pt, pn, st, sn,
    pk, sk)
RC(C_WrapKey, (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE w,
    CK_OBJECT_HANDLE k, CK_BYTE_PTR o, CK_ULONG_PTR ol), h, m, w, k, o, ol)
RC(C_UnwrapKey, (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m,
    CK_OBJECT_HANDLE u, CK_BYTE_PTR w, CK_ULONG wl, CK_ATTRIBUTE_PTR t,
    CK_ULONG n, CK_OBJECT_HANDLE_PTR k), h, m, u, w, wl, t, n, k)
RC(C_DeriveKey, (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m,
    CK_OBJECT_HANDLE b, CK_ATTRIBUTE_PTR t, CK_ULONG n,
    CK_OBJECT_HANDLE_PTR k), h, m, b, t, n, k)
RC(C_SeedRandom, (CK_SESSION_HANDLE h, CK_BYTE_PTR s, CK_ULONG n), h, s, n)
RC(C_GetFunctionStatus, (CK_SESSION_HANDLE h), h)
RC(C_CancelFunction, (CK_SESSION_HANDLE h), h)
RC(C_LoginUser, (CK_SESSION_HANDLE h, CK_USER_TYPE u, CK_UTF8CHAR_PTR pin,
    CK_ULONG n, CK_UTF8CHAR_PTR user, CK_ULONG ul), h, u, pin, n, user, ul)
RC(C_SessionCancel, (CK_SESSION_HANDLE h, CK_FLAGS f), h, f)

/* session, mechanism, key: the *Init calls */
#define RC_INIT(name)							\
	RC(name, (CK_SESSION_HANDLE h, CK_MECHANISM_PTR m,		\
	    CK_OBJECT_HANDLE k), h, m, k)
RC_INIT(C_EncryptInit)
RC_INIT(C_DecryptInit)
RC_INIT(C_SignInit)
RC_INIT(C_SignRecoverInit)
RC_INIT(C_VerifyInit)
RC_INIT(C_VerifyRecoverInit)

/* session, input bytes -> output bytes */
#define RC_INOUT(name)							\
	RC(name, (CK_SESSION_HANDLE h, CK_BYTE_PTR i, CK_ULONG il,	\
	    CK_BYTE_PTR o, CK_ULONG_PTR ol), h, i, il, o, ol)
RC_INOUT(C_Encrypt)
RC_INOUT(C_EncryptUpdate)
RC_INOUT(C_Decrypt)
RC_INOUT(C_DecryptUpdate)
RC_INOUT(C_Digest)
RC_INOUT(C_Sign)
RC_INOUT(C_SignRecover)
RC_INOUT(C_VerifyRecover)
RC_INOUT(C_DigestEncryptUpdate)
RC_INOUT(C_DecryptDigestUpdate)
RC_INOUT(C_SignEncryptUpdate)
RC_INOUT(C_DecryptVerifyUpdate)

/* session, input bytes */
#define RC_IN(name)							\
	RC(name, (CK_SESSION_HANDLE h, CK_BYTE_PTR i, CK_ULONG il), h, i, il)
RC_IN(C_DigestUpdate)
RC_IN(C_SignUpdate)
RC_IN(C_VerifyUpdate)
RC_IN(C_VerifyFinal)

/* session -> output bytes */
#define RC_OUT(name)							\
	RC(name, (CK_SESSION_HANDLE h, CK_BYTE_PTR o, CK_ULONG_PTR ol),	\
	    h, o, ol)
RC_OUT(C_EncryptFinal)
RC_OUT(C_DecryptFinal)
RC_OUT(C_DigestFinal)
RC_OUT(C_SignFinal)

/* pApplication and Notify stay here: the token never calls back */
CK_RV
rc_C_OpenSession(CK_SLOT_ID s, CK_FLAGS f, CK_VOID_PTR app, CK_NOTIFY notify,
    CK_SESSION_HANDLE_PTR h)
{
	(void)app;
	(void)notify;
	return rc_call(P11W_CALL_C_OpenSession, s, f, h);
}

CK_RV
rc_C_WaitForSlotEvent(CK_FLAGS f, CK_SLOT_ID_PTR s, CK_VOID_PTR reserved)
{
	(void)reserved;
	return rc_call(P11W_CALL_C_WaitForSlotEvent, f, s);
}

RC(C_GenerateRandom, (CK_SESSION_HANDLE h, CK_BYTE_PTR p, CK_ULONG n),
    h, p, n)
