/*
 * m2mtokend: the event loop serving the flow IPC socket (see server.h).
 */
#define _GNU_SOURCE
#include <sys/socket.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "acl.h"
#include "errors.h"
#include "ipc.h"
#include "log.h"
#include "p11listen.h"
#include "peer.h"
#include "server.h"

#define FRAMES_PER_WAKEUP	16

struct server;

struct conn {
	struct server		*srv;
	int			 fd;
	struct event		*ev;
	struct event		*timer;
	struct m2m_ipc_reader	*rd;
	struct m2m_peer		*peer;
	char			*out;		/* the reply being sent */
	size_t			 outlen;
	size_t			 outoff;
	int			 close_after;	/* once out is sent */
	long long		 begun;		/* ms: the frame's first byte,
						   or its reply's start; 0 */
	short			 armed;		/* EV_READ or EV_WRITE, 0 */
	struct mtd_pending	 pending;	/* a call at the MEF */
	struct conn		*qnext;		/* in the job queue */
	struct conn		*next;
};

/*
 * The MEF jobs: one runs in the worker thread, the others wait in
 * arrival order.  The worker says it is done through a pipe the loop
 * watches.
 */
struct server {
	struct mtd		*d;
	struct event_base	*base;
	struct event		*ev_listen;
	struct conn		*conns;
	struct conn		*qhead, *qtail;	/* waiting jobs */
	struct conn		*running;	/* the worker's job */
	pthread_t		 worker;
	int			 worker_ok;	/* worker is a thread */
	int			 done[2];	/* pipe: worker -> loop */
	struct event		*ev_done;
	/* the lines a peer causes at will: one a second each */
	struct mtd_log_limit	 lim_accept;	/* accept() failed */
	struct mtd_log_limit	 lim_nocred;	/* no peer credentials */
	struct mtd_log_limit	 lim_full;	/* max_connections */
	struct mtd_log_limit	 lim_uid;	/* max_connections_per_uid */
	struct mtd_log_limit	 lim_broken;	/* closed inside a frame */
	struct mtd_log_limit	 lim_timer[3];	/* idle, frame, reply */
};

static void conn_event(evutil_socket_t fd, short what, void *arg);
static int conn_read(struct conn *c);
static void job_enqueue(struct conn *c);

static void
conn_free(struct conn *c)
{
	struct conn **pp;

	for (pp = &c->srv->conns; *pp != NULL; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	for (pp = &c->srv->qhead; *pp != NULL; pp = &(*pp)->qnext)
		if (*pp == c) {
			*pp = c->qnext;
			break;
		}
	c->srv->qtail = NULL;
	for (struct conn *q = c->srv->qhead; q != NULL; q = q->qnext)
		c->srv->qtail = q;
	c->srv->d->nconns--;
	if (c->ev != NULL)
		event_free(c->ev);
	if (c->timer != NULL)
		event_free(c->timer);
	m2m_ipc_reader_free(c->rd);
	m2m_peer_free(c->peer);
	mtd_job_free(c->pending.job);
	/* a reply may hold a plaintext (Open) */
	if (c->out != NULL)
		explicit_bzero(c->out, c->outlen);
	free(c->out);
	close(c->fd);
	free(c);
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for the events this connection needs now. */
static int
conn_arm(struct conn *c)
{
	long long left = c->srv->d->conf->idle_timeout * 1000LL;
	struct timeval tv;
	short what = c->out != NULL ? EV_WRITE : EV_READ;

	if (c->pending.job != NULL) {
		/* waiting for the MEF: neither I/O nor the idle timer */
		event_del(c->ev);
		event_del(c->timer);
		c->armed = 0;
		return 0;
	}
	/* the I/O event changes only when the direction does */
	if (what != c->armed) {
		event_del(c->ev);
		if (event_assign(c->ev, c->srv->base, c->fd,
		    what | EV_PERSIST, conn_event, c) != 0 ||
		    event_add(c->ev, NULL) != 0)
			return -1;
		c->armed = what;
	}
	/* frames already read past the last one: no readiness will come */
	if (what == EV_READ && m2m_ipc_reader_buffered(c->rd))
		event_active(c->ev, EV_READ, 1);
	/*
	 * Between frames: idle_timeout from now.  A frame begun, or a reply
	 * going out: idle_timeout from its start, never re-armed by a byte
	 * (one blank a second kept a connection open for ever: found in
	 * review).
	 */
	if (what == EV_WRITE || m2m_ipc_reader_eof(c->rd) != 0) {
		if (c->begun == 0)
			c->begun = now_ms();
		left += c->begun - now_ms();
		if (left < 0)
			left = 0;
	} else
		c->begun = 0;
	tv.tv_sec = (time_t)(left / 1000);
	tv.tv_usec = (suseconds_t)(left % 1000) * 1000;
	return event_add(c->timer, &tv) == 0 ? 0 : -1;
}

/* Sends what it can of c->out; 0 done or pending, -1 to close. */
static int
conn_flush(struct conn *c)
{
	ssize_t n;

	while (c->out != NULL && c->outoff < c->outlen) {
		n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n <= 0)
			return -1;
		c->outoff += (size_t)n;
	}
	if (c->out != NULL)
		explicit_bzero(c->out, c->outlen);
	free(c->out);
	c->out = NULL;
	c->outlen = c->outoff = 0;
	c->begun = 0;
	return c->close_after ? -1 : 0;
}

static int
encode_error(int r, const struct mtd_err *err, char **buf, size_t *len)
{
	struct json_object *p = NULL;
	int e;

	if ((p = json_object_new_object()) == NULL)
		return M2M_IPC_ERR_NO_MEMORY;
	if (err != NULL && err->detail[0] != '\0')
		json_object_object_add(p, "detail",
		    json_object_new_string(err->detail));
	if (err != NULL && err->status != 0)
		json_object_object_add(p, "status",
		    json_object_new_int(err->status));
	if (err != NULL && err->status != 0 && err->rsc >= 0)
		json_object_object_add(p, "rsc", json_object_new_int(err->rsc));
	e = m2m_ipc_encode_error_code(r, p, buf, len);
	json_object_put(p);
	return e;
}

static int
encode_rv(CK_RV rv, const struct mtd_err *err, char **buf, size_t *len)
{
	struct json_object *p = NULL;
	char reason[96];
	int e;

	if ((p = json_object_new_object()) == NULL)
		return M2M_IPC_ERR_NO_MEMORY;
	snprintf(reason, sizeof(reason), "the token refused: %s",
	    mtd_rv_name(rv));
	json_object_object_add(p, "reason", json_object_new_string(reason));
	if (err != NULL && err->detail[0] != '\0')
		json_object_object_add(p, "detail",
		    json_object_new_string(err->detail));
	e = m2m_ipc_encode_error(m2m_ipc_error_from_rv(rv), p, buf, len);
	json_object_put(p);
	return e;
}

/* Encodes the reply (or error) for r and logs the call's line. */
static int
conclude(const struct m2m_peer *peer, const struct mtd_method *m,
    const char *method, const char *keyid, const char *rule, long r,
    struct json_object *reply, struct mtd_err *err, char **ret_buf,
    size_t *ret_len)
{
	char sm[136], sk[136];
	int e;

	if (r == 0) {
		e = m2m_ipc_encode_reply(reply, ret_buf, ret_len);
		if (e != 0) {
			r = e;
			e = encode_error(e, NULL, ret_buf, ret_len);
		}
	} else if (r < 0) {
		e = encode_error((int)r, err, ret_buf, ret_len);
	} else {
		e = encode_rv((CK_RV)r, err, ret_buf, ret_len);
	}
	mtd_log(r != 0 ? MTD_LOG_WARNING : m != NULL && m->changes ?
	    MTD_LOG_INFO : MTD_LOG_DEBUG,
	    "call: uid %lu pid %ld %s key %s rule %s: %s%s%s",
	    (unsigned long)peer->uid, (long)peer->pid,
	    mtd_log_safe(method, sm, sizeof(sm)),
	    mtd_log_safe(keyid, sk, sizeof(sk)), rule ? rule : "-",
	    r == 0 ? "ok" : r < 0 ? m2m_ipc_error_name((int)r) :
	    m2m_ipc_error_from_rv((CK_RV)r),
	    err != NULL && err->detail[0] ? ": " : "",
	    err != NULL ? err->detail : "");
	return e == 0 ? 0 : M2M_IPC_ERR_NO_MEMORY;
}

/*
 * The key a Bootstrap call uses, which the caller ACL checks: [enrolee]
 * cert_key for framework "certificate", else [enrolee] kpm_id (PSK).  A
 * framework that is neither is refused by the method itself before any
 * key is used; a key that is not configured is refused as NotConfigured.
 */
static const char *
bootstrap_key(const struct mtd *d, struct json_object *params)
{
	struct json_object *fw;

	if (json_object_object_get_ex(params, "framework", &fw) &&
	    json_object_is_type(fw, json_type_string) &&
	    strcmp(json_object_get_string(fw), "certificate") == 0)
		return d->conf->cert_key;
	return d->conf->kpm_id;
}

/* see server.h */
int
mtd_server_call(struct mtd *d, const struct m2m_peer *peer,
    const char *method, struct json_object *params, char **ret_buf,
    size_t *ret_len, struct mtd_pending *ret_pending)
{
	const struct mtd_method *m;
	struct m2m_acl_verdict vd;
	struct mtd_call call;
	struct mtd_err err;
	struct json_object *reply = NULL, *kv;
	const char *keyid = NULL;
	char sm[136], sk[136], keid[MTD_ID_MAX + 1];
	long r = M2M_IPC_ERR_INTERNAL;
	int e;

	memset(&err, 0, sizeof(err));
	err.rsc = -1;
	memset(&vd, 0, sizeof(vd));
	memset(&call, 0, sizeof(call));
	memset(ret_pending, 0, sizeof(*ret_pending));
	*ret_buf = NULL;
	d->calls++;
	if ((m = mtd_method_find(method)) == NULL) {
		r = M2M_IPC_ERR_METHOD_NOT_FOUND;
		goto reply;
	}
	if ((m->keyarg == MTD_KEY_PARAM || m->keyarg == MTD_KEY_KEID) &&
	    json_object_object_get_ex(params, "key", &kv)) {
		if (!json_object_is_type(kv, json_type_string)) {
			snprintf(err.detail, sizeof(err.detail),
			    "parameter key must be a string");
			r = M2M_IPC_ERR_INVALID_PARAMETER;
			goto reply;
		}
		keyid = json_object_get_string(kv);
		/*
		 * A KeId is checked in the form the method uses, lower case:
		 * else "[!a-f]*@mef.example.com" passes "A..." that is then
		 * fetched as "a..." (found in review).  What is no KeId is
		 * checked as sent; the method refuses it.
		 */
		if (m->keyarg == MTD_KEY_KEID &&
		    mtd_keid_canon(keyid, keid, sizeof(keid)))
			keyid = keid;
	} else if (m->keyarg == MTD_KEY_KPMID)
		keyid = bootstrap_key(d, params);
	if (m2m_acl_check(d->conf->acl, peer->uid, peer->groups,
	    peer->ngroups, method, keyid, &vd) != 0 || !vd.allow) {
		mtd_log(MTD_LOG_WARNING, "denied: uid %lu pid %ld %s key %s: "
		    "%s (rule %s); add a [caller] rule to allow it",
		    (unsigned long)peer->uid, (long)peer->pid,
		    mtd_log_safe(method, sm, sizeof(sm)),
		    mtd_log_safe(keyid, sk, sizeof(sk)),
		    vd.why == M2M_ACL_NO_RULE ? "no rule names the caller" :
		    vd.why == M2M_ACL_METHOD ? "method not allowed" :
		    "key not allowed", vd.rule ? vd.rule : "-");
		e = encode_error(M2M_IPC_ERR_PERMISSION_DENIED, NULL, ret_buf,
		    ret_len);
		return e == 0 ? 0 : M2M_IPC_ERR_NO_MEMORY;
	}
	if (d->tok == NULL && strcmp(method, "io.m2mtoken.Status") != 0) {
		snprintf(err.detail, sizeof(err.detail), "no [token] label "
		    "in the daemon's configuration: it serves client mode "
		    "only");
		r = M2M_IPC_ERR_NOT_CONFIGURED;
		goto reply;
	}
	/* released wiped: a handler's reply may hold a plaintext (Open) */
	if ((reply = json_object_new_object()) == NULL) {
		r = M2M_IPC_ERR_NO_MEMORY;
		goto reply;
	}
	call.d = d;
	call.peer = peer;
	call.method = method;
	r = m->fn(&call, params, reply, &err);
	if (r == 0 && call.job != NULL) {
		/* to the MEF: the reply comes from mtd_server_finish() */
		ret_pending->job = call.job;
		ret_pending->m = m;
		ret_pending->rule = vd.rule;
		snprintf(ret_pending->keyid, sizeof(ret_pending->keyid), "%s",
		    keyid != NULL ? keyid : "");
		ret_pending->has_key = keyid != NULL;
		m2m_json_put_wiped(reply);
		return 0;
	}
	mtd_job_free(call.job);
 reply:
	e = conclude(peer, m, method, keyid, vd.rule, r, reply, &err,
	    ret_buf, ret_len);
	m2m_json_put_wiped(reply);
	return e;
}

/* see server.h */
int
mtd_server_finish(struct mtd *d, const struct m2m_peer *peer,
    struct mtd_pending *p, char **ret_buf, size_t *ret_len)
{
	struct json_object *reply = NULL;
	struct mtd_call call;
	struct mtd_err err;
	long r;
	int e;

	memset(&err, 0, sizeof(err));
	err.rsc = -1;
	memset(&call, 0, sizeof(call));
	call.d = d;
	call.peer = peer;
	call.method = p->m->name;
	if (p->job->rc != 0) {
		r = p->job->rc;
		snprintf(err.detail, sizeof(err.detail), "%s",
		    p->job->detail);
	} else if ((reply = json_object_new_object()) == NULL) {
		r = M2M_IPC_ERR_NO_MEMORY;
	} else {
		r = p->job->finish(&call, p->job, reply, &err);
	}
	e = conclude(peer, p->m, p->m->name, p->has_key ? p->keyid : NULL,
	    p->rule, r, reply, &err, ret_buf, ret_len);
	m2m_json_put_wiped(reply);
	mtd_job_free(p->job);
	p->job = NULL;
	return e;
}

static void *
worker_main(void *arg)
{
	struct server *s = arg;
	char b = 'x';

	mtd_job_run(s->running->pending.job);
	while (write(s->done[1], &b, 1) == -1 && errno == EINTR)
		;
	return NULL;
}

/* Starts the next waiting job, if the worker is free. */
static void
job_next(struct server *s)
{
	struct conn *c;

	if (s->running != NULL || (c = s->qhead) == NULL)
		return;
	s->qhead = c->qnext;
	if (s->qhead == NULL)
		s->qtail = NULL;
	c->qnext = NULL;
	s->running = c;
	if ((s->worker_ok = pthread_create(&s->worker, NULL, worker_main,
	    s) == 0))
		return;
	/* no thread to be had: run it here, blocking the loop this once */
	mtd_log(MTD_LOG_WARNING, "no worker thread: the MEF exchange blocks "
	    "the loop");
	worker_main(s);
}

static void
job_enqueue(struct conn *c)
{
	struct server *s = c->srv;

	if (s->qtail != NULL)
		s->qtail->qnext = c;
	else
		s->qhead = c;
	s->qtail = c;
	job_next(s);
}

/* The worker is done: its reply, then the next job. */
static void
job_done(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;
	struct conn *c = s->running;
	char b[16];

	(void)what;
	while (read(fd, b, sizeof(b)) > 0)
		;
	if (c == NULL)
		return;
	if (s->worker_ok)
		pthread_join(s->worker, NULL);
	s->running = NULL;
	if (mtd_server_finish(s->d, c->peer, &c->pending, &c->out,
	    &c->outlen) != 0) {
		conn_free(c);
		goto next;
	}
	c->outoff = 0;
	/* its reply out, then whatever it sent meanwhile */
	if (conn_flush(c) != 0 || (c->out == NULL && conn_read(c) != 0) ||
	    conn_arm(c) != 0)
		conn_free(c);
 next:
	job_next(s);
}

/* Reads and answers frames; -1 to close the connection. */
static int
conn_read(struct conn *c)
{
	struct m2m_ipc_msg *msg = NULL;
	int i, r;

	for (i = 0; i < FRAMES_PER_WAKEUP && c->out == NULL &&
	    c->pending.job == NULL; i++) {
		/* emptied by this wakeup's read: epoll says when there is more */
		if (i > 0 && m2m_ipc_reader_drained(c->rd))
			return 0;
		r = m2m_ipc_reader_read_fd(c->rd, c->fd, &msg);
		if (r == 0 && msg == NULL)
			return 0;	/* need more */
		if (r == M2M_IPC_ERR_EOF)
			return -1;
		if (r == M2M_IPC_ERR_TRUNCATED || r == M2M_IPC_ERR_IO) {
			mtd_log_limited(&c->srv->lim_broken, MTD_LOG_INFO,
			    "uid %lu pid %ld: %s",
			    (unsigned long)c->peer->uid, (long)c->peer->pid,
			    m2m_ipc_strerror(r));
			return -1;
		}
		c->begun = 0;	/* a whole frame: the next one's deadline */
		if (r == 0) {
			r = mtd_server_call(c->srv->d, c->peer,
			    m2m_ipc_msg_method(msg),
			    m2m_ipc_msg_parameters(msg), &c->out, &c->outlen,
			    &c->pending);
			m2m_ipc_msg_free(msg);
			msg = NULL;
			if (r != 0)
				return -1;
			if (c->pending.job != NULL) {
				job_enqueue(c);
				return 0;
			}
		} else {
			/* a malformed frame: answer it, and go on */
			mtd_log(MTD_LOG_WARNING, "uid %lu pid %ld: bad frame: "
			    "%s", (unsigned long)c->peer->uid,
			    (long)c->peer->pid, m2m_ipc_strerror(r));
			if (r == M2M_IPC_ERR_FRAME_TOO_LARGE)
				c->close_after = 1;
			if (encode_error(r, NULL, &c->out, &c->outlen) != 0)
				return -1;
		}
		c->outoff = 0;
		if (conn_flush(c) != 0)
			return -1;
	}
	return 0;
}

static void
conn_event(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	if (what & EV_WRITE) {
		if (conn_flush(c) != 0)
			goto close;
		/* its reply is out: read what it sent meanwhile */
		if (c->out == NULL && conn_read(c) != 0)
			goto close;
	} else if (what & EV_READ) {
		if (conn_read(c) != 0)
			goto close;
	}
	if (conn_arm(c) != 0)
		goto close;
	return;
 close:
	conn_free(c);
}

static void
conn_idle(evutil_socket_t fd, short what, void *arg)
{
	static const char *const why[3] = { "idle for", "a frame not "
	    "finished within", "its reply not taken within" };
	struct conn *c = arg;
	int k;

	(void)fd;
	(void)what;
	k = c->out != NULL ? 2 : m2m_ipc_reader_eof(c->rd) != 0 ? 1 : 0;
	mtd_log_limited(&c->srv->lim_timer[k], MTD_LOG_INFO,
	    "uid %lu pid %ld: %s %u s%s, closed", (unsigned long)c->peer->uid,
	    (long)c->peer->pid, why[k], c->srv->d->conf->idle_timeout,
	    k == 1 ? " of its first byte" : "");
	conn_free(c);
}

static void
on_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct server *s = arg;
	struct conn *c = NULL;
	struct m2m_peer *peer = NULL;
	unsigned int mine = 0;
	int fd, r;

	(void)what;
	if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) ==
	    -1) {
		if (errno != EAGAIN && errno != EINTR &&
		    errno != ECONNABORTED)
			mtd_log_limited(&s->lim_accept, MTD_LOG_ERR,
			    "accept: %s", strerror(errno));
		return;
	}
	if ((r = m2m_peer_from_fd(fd, &peer)) != 0) {
		mtd_log_limited(&s->lim_nocred, MTD_LOG_WARNING, "a "
		    "connection without peer credentials: %s",
		    m2m_ipc_strerror(r));
		close(fd);
		return;
	}
	if (s->d->nconns >= s->d->conf->max_connections) {
		mtd_log_limited(&s->lim_full, MTD_LOG_WARNING, "uid %lu pid "
		    "%ld: %u connections: a new one is closed (raise "
		    "[daemon] max_connections?)", (unsigned long)peer->uid,
		    (long)peer->pid, s->d->nconns);
		goto refuse;
	}
	/* one uid may not take every connection (found in review) */
	for (c = s->conns; c != NULL; c = c->next)
		if (c->peer->uid == peer->uid)
			mine++;
	if (mine >= s->d->conf->max_conn_per_uid) {
		mtd_log_limited(&s->lim_uid, MTD_LOG_WARNING, "uid %lu pid "
		    "%ld: %u connections of this uid: a new one is closed "
		    "(raise [daemon] max_connections_per_uid?)",
		    (unsigned long)peer->uid, (long)peer->pid, mine);
		goto refuse;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		goto refuse;
	c->srv = s;
	c->fd = fd;
	c->peer = peer;
	c->next = s->conns;
	s->conns = c;
	s->d->nconns++;
	if (m2m_ipc_reader_new(M2M_IPC_CALLS, &c->rd) != 0 ||
	    (c->ev = event_new(s->base, fd, EV_READ | EV_PERSIST, conn_event,
	    c)) == NULL ||
	    (c->timer = evtimer_new(s->base, conn_idle, c)) == NULL ||
	    conn_arm(c) != 0)
		conn_free(c);
	return;
 refuse:
	m2m_peer_free(peer);
	close(fd);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct server *s = arg;

	(void)what;
	if (sig == SIGHUP) {
		mtd_log(MTD_LOG_INFO, "SIGHUP: ignored (no reload: restart "
		    "the daemon to read its configuration again)");
		return;
	}
	mtd_log(MTD_LOG_INFO, "signal %d: stopping", (int)sig);
	event_base_loopexit(s->base, NULL);
}

/* see server.h */
int
mtd_server_run(struct mtd *d, int listen_fd, void (*ready)(void))
{
	struct server s;
	struct event *sig_term = NULL, *sig_int = NULL, *sig_hup = NULL;
	int r = -1;

	memset(&s, 0, sizeof(s));
	s.d = d;
	s.done[0] = s.done[1] = -1;
	signal(SIGPIPE, SIG_IGN);
	if (pipe2(s.done, O_CLOEXEC | O_NONBLOCK) != 0 ||
	    (s.base = event_base_new()) == NULL ||
	    (s.ev_done = event_new(s.base, s.done[0], EV_READ | EV_PERSIST,
	    job_done, &s)) == NULL || event_add(s.ev_done, NULL) != 0 ||
	    (s.ev_listen = event_new(s.base, listen_fd, EV_READ | EV_PERSIST,
	    on_accept, &s)) == NULL ||
	    event_add(s.ev_listen, NULL) != 0 ||
	    (sig_term = evsignal_new(s.base, SIGTERM, on_signal, &s)) ==
	    NULL || event_add(sig_term, NULL) != 0 ||
	    (sig_int = evsignal_new(s.base, SIGINT, on_signal, &s)) ==
	    NULL || event_add(sig_int, NULL) != 0 ||
	    (sig_hup = evsignal_new(s.base, SIGHUP, on_signal, &s)) ==
	    NULL || event_add(sig_hup, NULL) != 0) {
		mtd_log(MTD_LOG_ERR, "cannot set up the event loop");
		goto out;
	}
	if (d->p11 != NULL && mtd_p11listen_start(d->p11, s.base) != 0)
		goto out;
	if (ready != NULL)
		ready();
	if (event_base_dispatch(s.base) == -1) {
		mtd_log(MTD_LOG_ERR, "event loop failed");
		goto out;
	}
	r = 0;
 out:
	/* a MEF exchange in flight ends within [mef] timeout */
	if (s.running != NULL && s.worker_ok) {
		pthread_join(s.worker, NULL);
		s.running = NULL;
	}
	while (s.conns != NULL)
		conn_free(s.conns);
	/* its events go before the base; its workers get SIGTERM */
	mtd_p11listen_free(d->p11);
	d->p11 = NULL;
	if (s.ev_done != NULL)
		event_free(s.ev_done);
	if (s.done[0] != -1) {
		close(s.done[0]);
		close(s.done[1]);
	}
	if (sig_term != NULL)
		event_free(sig_term);
	if (sig_int != NULL)
		event_free(sig_int);
	/* SIGHUP: back to what main() set, ignored (not the default) */
	if (sig_hup != NULL)
		event_free(sig_hup);
	if (s.ev_listen != NULL)
		event_free(s.ev_listen);
	if (s.base != NULL)
		event_base_free(s.base);
	return r;
}
