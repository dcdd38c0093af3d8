/* m2mtoken tests: a bit-flipping proxy in front of swtpm.  See the .h. */
#define _GNU_SOURCE	/* accept4 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support_swtpm.h"
#include "support_tamper.h"

#define MAX_PAIRS	16	/* connections relayed at once */
#define MSG_MAX		8192	/* largest TPM command or response */
#define HDR_LEN		10	/* tag (2), size (4), code (4) */

struct pair {
	int	 down;	/* the TCTI's connection */
	int	 up;	/* ours to swtpm */
	int	 cmd;	/* command port: relayed message by message */
};

struct m2m_tamper {
	int		 lfd[2];	/* command, control */
	int		 upport;	/* swtpm's command port */
	int		 wake[2];	/* a byte here stops the thread */
	pthread_t	 thr;
	int		 running;
	char		 tcti[64];
	pthread_mutex_t	 lock;
	uint32_t	 cc;		/* armed: command code */
	int		 armed;		/* 0, 1 command, 2 response */
	size_t		 off;
	unsigned	 fired;
	int		 inject;	/* armed: complete the next sequence */
	long		 inject_rc;	/* its response code, -1: none yet */
	struct pair	 p[MAX_PAIRS];
	size_t		 np;
};

static int
listen_on(int port, int *ret_port)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	int fd, one = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)port);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(fd, 16) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &alen) != 0) {
		close(fd);
		return -1;
	}
	*ret_port = ntohs(a.sin_port);
	return fd;
}

static int
connect_lo(int port)
{
	struct sockaddr_in a;
	int fd;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)port);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Read exactly n bytes: 1, 0 on EOF before the first byte, -1 on error. */
static int
read_full(int fd, uint8_t *p, size_t n)
{
	size_t got = 0;
	ssize_t k;

	while (got < n) {
		k = read(fd, p + got, n - got);
		if (k == -1 && errno == EINTR)
			continue;
		if (k <= 0)
			return got == 0 && k == 0 ? 0 : -1;
		got += (size_t)k;
	}
	return 1;
}

static int
write_full(int fd, const uint8_t *p, size_t n)
{
	ssize_t k;

	while (n > 0) {
		k = write(fd, p, n);
		if (k == -1 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static uint32_t
be32_at(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

/* One whole TPM message from fd: its length, 0 on EOF, -1 on error. */
static long
read_msg(int fd, uint8_t *buf)
{
	uint32_t size;
	int r;

	if ((r = read_full(fd, buf, HDR_LEN)) <= 0)
		return r;
	size = be32_at(buf + 2);
	if (size < HDR_LEN || size > MSG_MAX ||
	    read_full(fd, buf + HDR_LEN, size - HDR_LEN) != 1)
		return -1;
	return (long)size;
}

/* Flip the armed bit if this message is the armed one. */
static void
maybe_flip(struct m2m_tamper *t, int response, uint32_t cc, uint8_t *buf,
    long len)
{
	pthread_mutex_lock(&t->lock);
	if (t->armed == (response ? 2 : 1) && t->cc == cc &&
	    t->off < (size_t)len) {
		buf[t->off] ^= 1;
		t->armed = 0;
		t->fired++;
	}
	pthread_mutex_unlock(&t->lock);
}

#define CC_HMAC_START		0x0000015bu
#define CC_SEQUENCE_COMPLETE	0x0000013eu

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/*
 * The response to an HMAC_Start (in buf) goes back soon: if armed, first
 * send swtpm a SequenceComplete of our own on that sequence, with an empty
 * password, and keep its response code.  -1: the connection broke.
 */
static int
maybe_inject(struct m2m_tamper *t, struct pair *p, uint32_t cc,
    const uint8_t *buf, long len)
{
	uint8_t c[37], r[MSG_MAX];
	int armed;

	pthread_mutex_lock(&t->lock);
	armed = t->inject && cc == CC_HMAC_START && len >= HDR_LEN + 4 &&
	    be32_at(buf + 6) == 0;
	if (armed)
		t->inject = 0;
	pthread_mutex_unlock(&t->lock);
	if (!armed)
		return 0;
	c[0] = 0x80;
	c[1] = 0x02;			/* TPM_ST_SESSIONS */
	put32(c + 2, sizeof(c));
	put32(c + 6, CC_SEQUENCE_COMPLETE);
	memcpy(c + 10, buf + HDR_LEN, 4);	/* the sequence handle */
	put32(c + 14, 9);		/* one password session: */
	put32(c + 18, 0x40000009);	/* TPM_RS_PW, */
	memset(c + 22, 0, 5);		/* no nonce, attributes 0, empty */
	c[27] = 0;
	c[28] = 4;			/* the attacker's message */
	memcpy(c + 29, "evil", 4);
	put32(c + 33, 0x40000007);	/* TPM_RH_NULL */
	if (write_full(p->up, c, sizeof(c)) != 0 || read_msg(p->up, r) <= 0)
		return -1;
	pthread_mutex_lock(&t->lock);
	t->inject_rc = (long)be32_at(r + 6);
	t->fired++;
	pthread_mutex_unlock(&t->lock);
	return 0;
}

/* Command port: one command, then its response.  -1: close the pair. */
static int
relay_cmd(struct m2m_tamper *t, struct pair *p)
{
	uint8_t buf[MSG_MAX];
	uint32_t cc;
	long n;

	if ((n = read_msg(p->down, buf)) <= 0)
		return -1;
	cc = be32_at(buf + 6);
	maybe_flip(t, 0, cc, buf, n);
	if (write_full(p->up, buf, (size_t)n) != 0 ||
	    (n = read_msg(p->up, buf)) <= 0)
		return -1;
	maybe_flip(t, 1, cc, buf, n);
	if (maybe_inject(t, p, cc, buf, n) != 0)
		return -1;
	return write_full(p->down, buf, (size_t)n);
}

/* Control port: bytes as they come.  -1: close the pair. */
static int
relay_raw(int from, int to)
{
	uint8_t buf[4096];
	ssize_t k;

	k = read(from, buf, sizeof(buf));
	if (k <= 0)
		return k == -1 && errno == EINTR ? 0 : -1;
	return write_full(to, buf, (size_t)k);
}

static void
pair_close(struct m2m_tamper *t, size_t i)
{
	close(t->p[i].down);
	close(t->p[i].up);
	t->p[i] = t->p[--t->np];
}

static void *
run(void *arg)
{
	struct m2m_tamper *t = arg;
	struct pollfd pf[3 + 2 * MAX_PAIRS];
	size_t i, n;
	int fd, up, r;

	for (;;) {
		pf[0] = (struct pollfd){ .fd = t->wake[0], .events = POLLIN };
		pf[1] = (struct pollfd){ .fd = t->lfd[0], .events = POLLIN };
		pf[2] = (struct pollfd){ .fd = t->lfd[1], .events = POLLIN };
		n = 3;
		for (i = 0; i < t->np; i++) {
			pf[n++] = (struct pollfd){ .fd = t->p[i].down,
			    .events = POLLIN };
			pf[n++] = (struct pollfd){ .fd = t->p[i].up,
			    .events = POLLIN };
		}
		if (poll(pf, n, -1) == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pf[0].revents)
			break;
		for (i = 0; i < 2; i++) {
			if (!pf[1 + i].revents)
				continue;
			if ((fd = accept4(t->lfd[i], NULL, NULL,
			    SOCK_CLOEXEC)) == -1)
				continue;
			if (t->np == MAX_PAIRS ||
			    (up = connect_lo(t->upport + (int)i)) == -1) {
				close(fd);
				continue;
			}
			t->p[t->np++] = (struct pair){ fd, up, i == 0 };
		}
		/* pairs, from the last so that closing one keeps the rest */
		for (i = (n - 3) / 2; i-- > 0;) {
			short down = pf[3 + 2 * i].revents;
			short upr = pf[4 + 2 * i].revents;

			if (i >= t->np || (!down && !upr))
				continue;
			if (t->p[i].cmd)
				r = down ? relay_cmd(t, &t->p[i]) : -1;
			else
				r = down ? relay_raw(t->p[i].down, t->p[i].up)
				    : relay_raw(t->p[i].up, t->p[i].down);
			if (r != 0)
				pair_close(t, i);
		}
	}
	return NULL;
}

/* see support_tamper.h */
int
m2m_tamper_start(const char *swtpm_tcti, struct m2m_tamper **ret)
{
	struct m2m_tamper *t;
	const char *p;
	char *end;
	long up;
	int port = 0, port2 = 0, tries;

	*ret = NULL;
	if ((p = strstr(swtpm_tcti, "port=")) == NULL)
		return -1;
	errno = 0;
	up = strtol(p + 5, &end, 10);
	if (errno != 0 || end == p + 5 || up < 1 || up > 65534)
		return -1;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return -1;
	t->inject_rc = -1;
	t->upport = (int)up;
	t->lfd[0] = t->lfd[1] = t->wake[0] = t->wake[1] = -1;
	pthread_mutex_init(&t->lock, NULL);
	for (tries = 0; tries < 50; tries++) {
		/* another process may take the pair first: try again */
		if ((port = m2m_free_port_pair()) == -1)
			break;
		if ((t->lfd[0] = listen_on(port, &port)) == -1)
			continue;
		if ((t->lfd[1] = listen_on(port + 1, &port2)) != -1)
			break;
		close(t->lfd[0]);
		t->lfd[0] = -1;
	}
	if (t->lfd[0] == -1 || t->lfd[1] == -1 || pipe(t->wake) != 0) {
		fprintf(stderr, "tamper: no free port pair\n");
		m2m_tamper_free(t);
		return -1;
	}
	(void)snprintf(t->tcti, sizeof(t->tcti),
	    "swtpm:host=127.0.0.1,port=%d", port);
	if (pthread_create(&t->thr, NULL, run, t) != 0) {
		m2m_tamper_free(t);
		return -1;
	}
	t->running = 1;
	*ret = t;
	return 0;
}

/* see support_tamper.h */
const char *
m2m_tamper_tcti(const struct m2m_tamper *t)
{
	return t->tcti;
}

/* see support_tamper.h */
void
m2m_tamper_arm(struct m2m_tamper *t, uint32_t cc, int response, size_t off)
{
	pthread_mutex_lock(&t->lock);
	t->cc = cc;
	t->armed = response ? 2 : 1;
	t->off = off;
	pthread_mutex_unlock(&t->lock);
}

/* see support_tamper.h */
void
m2m_tamper_arm_inject(struct m2m_tamper *t)
{
	pthread_mutex_lock(&t->lock);
	t->inject = 1;
	t->inject_rc = -1;
	pthread_mutex_unlock(&t->lock);
}

/* see support_tamper.h */
long
m2m_tamper_inject_rc(struct m2m_tamper *t)
{
	long rc;

	pthread_mutex_lock(&t->lock);
	rc = t->inject_rc;
	pthread_mutex_unlock(&t->lock);
	return rc;
}

/* see support_tamper.h */
unsigned
m2m_tamper_fired(struct m2m_tamper *t)
{
	unsigned n;

	pthread_mutex_lock(&t->lock);
	n = t->fired;
	pthread_mutex_unlock(&t->lock);
	return n;
}

/* see support_tamper.h */
void
m2m_tamper_free(struct m2m_tamper *t)
{
	size_t i;

	if (t == NULL)
		return;
	if (t->running) {
		(void)write_full(t->wake[1], (const uint8_t *)"x", 1);
		pthread_join(t->thr, NULL);
	}
	for (i = 0; i < t->np; i++) {
		close(t->p[i].down);
		close(t->p[i].up);
	}
	for (i = 0; i < 2; i++) {
		if (t->lfd[i] != -1)
			close(t->lfd[i]);
		if (t->wake[i] != -1)
			close(t->wake[i]);
	}
	pthread_mutex_destroy(&t->lock);
	free(t);
}
