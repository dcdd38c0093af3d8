/*
 * m2mtokend: the client-mode socket and its workers (see p11listen.h).
 */
#define _GNU_SOURCE
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "acl.h"
#include "errors.h"
#include "log.h"
#include "p11listen.h"
#include "p11wire.h"
#include "peer.h"

#define STOP_WAIT_MS	2000	/* SIGTERM to SIGKILL */

extern char **environ;

struct worker {
	pid_t	 pid;		/* 0: a free entry */
	uid_t	 uid;		/* the client's */
	pid_t	 cpid;		/* the client's pid */
};

struct mtd_p11listen {
	const struct mtd_conf	*conf;
	const char		*conf_path;
	int			 fd;
	struct event		*ev_accept;
	struct event		*ev_chld;
	struct worker		*w;		/* conf->p11_max_clients */
	unsigned int		 nw;
	/* the lines a peer causes at will: one a second each */
	struct mtd_log_limit	 lim_accept;	/* accept() failed */
	struct mtd_log_limit	 lim_nocred;	/* no peer credentials */
	struct mtd_log_limit	 lim_denied;	/* no tokens rule */
	struct mtd_log_limit	 lim_full;	/* max_clients */
	struct mtd_log_limit	 lim_uid;	/* max_clients_per_uid */
};

/* see p11listen.h */
struct mtd_p11listen *
mtd_p11listen_new(const struct mtd_conf *conf, const char *conf_path,
    int fd)
{
	struct mtd_p11listen *l = NULL;

	if ((l = calloc(1, sizeof(*l))) == NULL ||
	    (l->w = calloc(conf->p11_max_clients, sizeof(*l->w))) == NULL) {
		free(l);
		close(fd);
		return NULL;
	}
	l->conf = conf;
	l->conf_path = conf_path;
	l->fd = fd;
	return l;
}

/* see p11listen.h */
unsigned int
mtd_p11listen_workers(const struct mtd_p11listen *l)
{
	return l == NULL ? 0 : l->nw;
}

/* Workers running now for uid. */
static unsigned int
workers_of(const struct mtd_p11listen *l, uid_t uid)
{
	unsigned int i, n = 0;

	for (i = 0; i < l->conf->p11_max_clients; i++)
		if (l->w[i].pid != 0 && l->w[i].uid == uid)
			n++;
	return n;
}

/* Sends a protocol error frame (best effort, never blocks). */
static void
send_error(int fd, enum p11w_err e, const char *reason)
{
	struct p11w_buf b;

	p11w_buf_init(&b, 512);
	p11w_error_frame(&b, 0, e, reason);
	if (!b.failed)
		(void)send(fd, b.data, b.len, MSG_DONTWAIT | MSG_NOSIGNAL);
	p11w_buf_free(&b);
}

/*
 * The child's side of fork(): only async-signal-safe calls (the daemon
 * may have a MEF thread).  The connection becomes fd 3, every other
 * descriptor but 0, 1, 2 is closed, and the daemon's binary runs again.
 */
static void __attribute__((noreturn))
child(int fd, char **argv)
{
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (fd == MTD_P11_WORKER_FD) {
		if (fcntl(fd, F_SETFD, 0) == -1)
			_exit(127);
	} else if (dup2(fd, MTD_P11_WORKER_FD) == -1)
		_exit(127);
	if (syscall(SYS_close_range, MTD_P11_WORKER_FD + 1, ~0U, 0) != 0) {
		int i;

		for (i = MTD_P11_WORKER_FD + 1; i < 65536; i++)
			close(i);
	}
	execve("/proc/self/exe", argv, environ);
	_exit(127);
}

/* Starts the worker of fd (the caller closes fd); its pid or -1. */
static pid_t
spawn(struct mtd_p11listen *l, int fd, const char **pat, size_t npat)
{
	char **argv = NULL;
	size_t i, n = 0;
	pid_t pid = -1;

	if ((argv = calloc(npat + 6, sizeof(*argv))) == NULL)
		goto out;
	argv[n++] = (char *)"m2mtokend";
	argv[n++] = (char *)MTD_P11_WORKER_ARG;
	argv[n++] = (char *)"-c";
	argv[n++] = (char *)l->conf_path;
	argv[n++] = (char *)"--";
	for (i = 0; i < npat; i++)
		argv[n++] = (char *)pat[i];
	argv[n] = NULL;
	if ((pid = fork()) == 0)
		child(fd, argv);
	if (pid == -1)
		mtd_log(MTD_LOG_ERR, "pkcs11: fork: %s", strerror(errno));
 out:
	free(argv);
	return pid;
}

/* The patterns as one printable line: "a b c", "-" for none. */
static void
join(char *buf, size_t len, const char **pat, size_t npat)
{
	char safe[M2M_ACL_PATTERN_MAX * 2 + 8];
	size_t i, off = 0;
	int n;

	buf[0] = '\0';
	if (npat == 0)
		snprintf(buf, len, "-");
	for (i = 0; i < npat && off < len; i++) {
		n = snprintf(buf + off, len - off, "%s%s", i ? " " : "",
		    mtd_log_safe(pat[i], safe, sizeof(safe)));
		if (n < 0)
			break;
		off += (size_t)n;
	}
}

static void
on_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct mtd_p11listen *l = arg;
	struct m2m_peer *peer = NULL;
	const char **pat = NULL, *rule = NULL;
	char reason[128], line[512];
	size_t npat = 0, i;
	unsigned int mine;
	pid_t pid;
	int fd, r;

	(void)what;
	if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) == -1) {
		if (errno != EAGAIN && errno != EINTR &&
		    errno != ECONNABORTED)
			mtd_log_limited(&l->lim_accept, MTD_LOG_ERR,
			    "pkcs11: accept: %s", strerror(errno));
		return;
	}
	if ((r = m2m_peer_from_fd(fd, &peer)) != 0) {
		mtd_log_limited(&l->lim_nocred, MTD_LOG_WARNING, "pkcs11: a "
		    "connection without peer credentials: %s",
		    m2m_ipc_strerror(r));
		goto out;
	}
	if ((pat = calloc(MTD_P11_PATTERNS_MAX, sizeof(*pat))) == NULL) {
		send_error(fd, P11W_ERR_INTERNAL, "out of memory");
		goto out;
	}
	r = m2m_acl_token_patterns(l->conf->acl, peer->uid, peer->groups,
	    peer->ngroups, pat, MTD_P11_PATTERNS_MAX, &npat, &rule);
	/*
	 * A uid no tokens rule names would see no token: it gets no worker
	 * either (it held one each before, with no rule and no PIN, and
	 * max_clients of them refused everyone: found in review).
	 */
	if (rule == NULL) {
		snprintf(reason, sizeof(reason), "no [caller] rule with "
		    "tokens names uid %lu", (unsigned long)peer->uid);
		send_error(fd, P11W_ERR_DENIED, reason);
		mtd_log_limited(&l->lim_denied, MTD_LOG_WARNING, "pkcs11: "
		    "uid %lu pid %ld: refused, no [caller] rule with tokens "
		    "names it (no worker)", (unsigned long)peer->uid,
		    (long)peer->pid);
		goto out;
	}
	if (l->nw >= l->conf->p11_max_clients) {
		snprintf(reason, sizeof(reason), "the daemon serves %u "
		    "clients already ([pkcs11] max_clients)", l->nw);
		send_error(fd, P11W_ERR_BUSY, reason);
		mtd_log_limited(&l->lim_full, MTD_LOG_WARNING, "pkcs11: uid "
		    "%lu pid %ld: busy, %u workers run (raise [pkcs11] "
		    "max_clients?)", (unsigned long)peer->uid,
		    (long)peer->pid, l->nw);
		goto out;
	}
	/* one uid may not take every worker (found in review) */
	if ((mine = workers_of(l, peer->uid)) >= l->conf->p11_max_per_uid) {
		snprintf(reason, sizeof(reason), "uid %lu has %u connections "
		    "already ([pkcs11] max_clients_per_uid)",
		    (unsigned long)peer->uid, mine);
		send_error(fd, P11W_ERR_BUSY, reason);
		mtd_log_limited(&l->lim_uid, MTD_LOG_WARNING, "pkcs11: uid "
		    "%lu pid %ld: busy, %u workers of this uid run (raise "
		    "[pkcs11] max_clients_per_uid?)", (unsigned long)peer->uid,
		    (long)peer->pid, mine);
		goto out;
	}
	if (r != 0) {
		mtd_log(MTD_LOG_WARNING, "pkcs11: uid %lu pid %ld: more than "
		    "%d token patterns: it sees no token",
		    (unsigned long)peer->uid, (long)peer->pid,
		    MTD_P11_PATTERNS_MAX);
		npat = 0;
	}
	if ((pid = spawn(l, fd, pat, npat)) == -1) {
		send_error(fd, P11W_ERR_INTERNAL, "cannot start a worker");
		goto out;
	}
	for (i = 0; i < l->conf->p11_max_clients; i++)
		if (l->w[i].pid == 0)
			break;
	/* i < max: nw < max above */
	l->w[i].pid = pid;
	l->w[i].uid = peer->uid;
	l->w[i].cpid = peer->pid;
	l->nw++;
	join(line, sizeof(line), pat, npat);
	mtd_log(MTD_LOG_INFO, "pkcs11: uid %lu pid %ld: rule %s, tokens %s: "
	    "worker %ld", (unsigned long)peer->uid, (long)peer->pid, rule,
	    line, (long)pid);
 out:
	free(pat);
	m2m_peer_free(peer);
	close(fd);
}

/* Forgets the worker pid; logs how it ended. */
static void
reaped(struct mtd_p11listen *l, pid_t pid, int st)
{
	struct worker *w = NULL;
	size_t i;

	for (i = 0; i < l->conf->p11_max_clients; i++)
		if (l->w[i].pid == pid)
			w = &l->w[i];
	if (w == NULL)
		return;
	if (WIFEXITED(st))
		mtd_log(WEXITSTATUS(st) == 0 ? MTD_LOG_INFO : MTD_LOG_WARNING,
		    "pkcs11: worker %ld (uid %lu pid %ld) exited with status "
		    "%d", (long)pid, (unsigned long)w->uid, (long)w->cpid,
		    WEXITSTATUS(st));
	else
		mtd_log(MTD_LOG_WARNING, "pkcs11: worker %ld (uid %lu pid "
		    "%ld) killed by signal %d", (long)pid,
		    (unsigned long)w->uid, (long)w->cpid,
		    WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	memset(w, 0, sizeof(*w));
	l->nw--;
}

static void
on_chld(evutil_socket_t sig, short what, void *arg)
{
	struct mtd_p11listen *l = arg;
	pid_t pid;
	int st;

	(void)sig;
	(void)what;
	while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
		reaped(l, pid, st);
}

/* see p11listen.h */
int
mtd_p11listen_start(struct mtd_p11listen *l, struct event_base *base)
{
	if ((l->ev_accept = event_new(base, l->fd, EV_READ | EV_PERSIST,
	    on_accept, l)) == NULL || event_add(l->ev_accept, NULL) != 0 ||
	    (l->ev_chld = evsignal_new(base, SIGCHLD, on_chld, l)) == NULL ||
	    event_add(l->ev_chld, NULL) != 0) {
		mtd_log(MTD_LOG_ERR, "pkcs11: cannot set up the events");
		return -1;
	}
	return 0;
}

/* see p11listen.h */
void
mtd_p11listen_free(struct mtd_p11listen *l)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	unsigned int ms;
	pid_t pid;
	size_t i;
	int st;

	if (l == NULL)
		return;
	if (l->ev_accept != NULL)
		event_free(l->ev_accept);
	if (l->ev_chld != NULL)
		event_free(l->ev_chld);
	close(l->fd);
	for (i = 0; i < l->conf->p11_max_clients; i++)
		if (l->w[i].pid != 0)
			kill(l->w[i].pid, SIGTERM);
	for (ms = 0; l->nw > 0; ms += 10) {
		if (ms == STOP_WAIT_MS)
			for (i = 0; i < l->conf->p11_max_clients; i++)
				if (l->w[i].pid != 0)
					kill(l->w[i].pid, SIGKILL);
		while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
			reaped(l, pid, st);
		if (pid == -1 && errno == ECHILD)
			break;
		if (l->nw > 0)
			nanosleep(&ts, NULL);
	}
	free(l->w);
	free(l);
}
