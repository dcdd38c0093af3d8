/*
 * m2m-label: local-only (it is its own daemon end: a fake m2mtokend that
 * holds a call in flight for as long as the test wants)
 * p11_forkwipe: a child forked while another thread's call is in flight
 * in client mode keeps no copy of that call's secret (pkcs11/remote.c,
 * child_wipe: the fork handler wipes the child's copies of the frame
 * buffers).  The module talks to a fake daemon end, a process of this
 * test, which holds each call as long as the test wants:
 *
 *   1. C_Login with a PIN of 32 random bytes: the fake end has read the
 *      whole request frame and does not answer;
 *   2. C_Decrypt whose plaintext, 32 random bytes, is in the reply: the
 *      fake end sends all of the reply but its last byte and waits until
 *      the module has read what was sent (SIOCOUTQ), so the plaintext is
 *      in the module's memory and the call still waits.
 *
 * Then the parent, its own copy of the bytes wiped, finds them in its
 * writable memory (the module's buffers: the scan works and the call is
 * in flight), forks, and the child scans its own writable memory
 * (/proc/self/maps, read through /proc/self/mem, unreadable ranges
 * skipped): it must not find them.  Then the call completes.  The test
 * keeps only the complement of each secret, so that its search leaves
 * no copy of its own; the secrets are made at run time (getrandom), so
 * no constant of the program holds them either.  The backend's token is
 * not used.
 */
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <linux/sockios.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include "p11client.h"

#define SECRET_LEN	32
/*
 * A larger writable range is ASan's shadow (256 MiB, terabytes), not
 * memory of the module's: a glibc arena's heap is at most 64 MiB.  The
 * parent's scan, which must find the copy, would fail were it skipped.
 */
#define SCAN_MAX	((size_t)64 << 20)
#define FRAME_MAX	65536

/* the wire (p11wire/p11wire.h; public API only here) */
#define HDR_LEN		12
#define MAGIC		"m2mtoken-p11"
#define CALL_HELLO	0
#define CALL_LOGIN	18
#define CALL_DECRYPT	34

static uint8_t pin[SECRET_LEN];		/* the caller's copy, wiped */
static uint8_t pin_not[SECRET_LEN];	/* its complement, kept */
static uint8_t plain[SECRET_LEN];	/* the fake end's only */
static uint8_t plain_not[SECRET_LEN];
static uint8_t chunk[65536];		/* scan(): wiped after each */

/* p holds the bytes whose complement is want: compared so, no copy made */
static int
is_secret(const uint8_t *p, const uint8_t want[SECRET_LEN])
{
	size_t j;

	for (j = 0; j < SECRET_LEN && (p[j] ^ want[j]) == 0xff; j++)
		;
	return j == SECRET_LEN;
}

/*
 * Whether the writable memory of this process holds the bytes whose
 * complement is want: 1, 0, or -1 when /proc/self/maps or /proc/self/mem
 * cannot be opened.  Reads through /proc/self/mem, not pointers: ASan
 * would report its own redzones, and a range the kernel will not read
 * ([vvar] and the like) is an error to skip, not a fault.
 */
static int
scan(const uint8_t want[SECRET_LEN])
{
	FILE *fp;
	char *line = NULL, perms[5];
	size_t cap = 0, len, i;
	unsigned long lo, hi, off;
	ssize_t n;
	int fd, found = 0;

	if ((fd = open("/proc/self/mem", O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	if ((fp = fopen("/proc/self/maps", "re")) == NULL) {
		close(fd);
		return -1;
	}
	while (!found && getline(&line, &cap, fp) > 0) {
		if (sscanf(line, "%lx-%lx %4s", &lo, &hi, perms) != 3 ||
		    perms[0] != 'r' || perms[1] != 'w' || hi - lo > SCAN_MAX)
			continue;
		/* chunks overlap by SECRET_LEN - 1: no copy falls between */
		for (off = lo; off < hi && !found;
		    off += len - (SECRET_LEN - 1)) {
			len = hi - off < sizeof(chunk) ? hi - off :
			    sizeof(chunk);
			if ((n = pread(fd, chunk, len, (off_t)off)) <
			    SECRET_LEN)
				break;
			for (i = 0; i + SECRET_LEN <= (size_t)n && !found;
			    i++)
				found = is_secret(chunk + i, want);
			if ((size_t)n < len || off + len >= hi)
				break;
		}
	}
	/* the parent's scan must not leave the child a copy */
	explicit_bzero(chunk, sizeof(chunk));
	free(line);
	fclose(fp);
	close(fd);
	return found;
}

/* ------------------------------------------------------------------ */
/* the fake daemon end                                                  */
/* ------------------------------------------------------------------ */

static int
read_full(int fd, void *p, size_t n)
{
	ssize_t r;

	while (n > 0) {
		if ((r = read(fd, p, n)) < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p = (uint8_t *)p + r;
		n -= (size_t)r;
	}
	return 0;
}

static int
write_full(int fd, const void *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, p, n)) < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p = (const uint8_t *)p + w;
		n -= (size_t)w;
	}
	return 0;
}

static void
be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static uint32_t
get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

/* The frame's header into out, then its body (len bytes) after it. */
static size_t
frame(uint8_t *out, uint32_t id, const void *body, size_t len)
{
	be32(out, (uint32_t)len);
	be32(out + 4, id);
	be32(out + 8, 0);
	memcpy(out + HDR_LEN, body, len);
	return HDR_LEN + len;
}

/*
 * One connection, each request answered rv 0 (what the module's calls
 * before and after need), but C_Login and C_Decrypt: ev gets a byte
 * when the call is held, the answer (the rest of it) goes when go gets
 * one.  0 when the module closed the connection after it all.
 */
static int
fake_serve(int ls, int ev, int go)
{
	uint8_t hdr[HDR_LEN], body[FRAME_MAX], out[HDR_LEN + 64], b;
	uint8_t rv0[8] = { 0 }, hello[12 + 8], dec[8 + 8 + 4 + SECRET_LEN + 1];
	uint32_t len, id, call;
	size_t n;
	int s, q, i;

	if ((s = accept(ls, NULL, NULL)) < 0)
		return 1;
	for (;;) {
		if (read_full(s, hdr, HDR_LEN) != 0)
			return 0;
		len = get_be32(hdr);
		id = get_be32(hdr + 4);
		call = get_be32(hdr + 8);
		if (len > sizeof(body) || read_full(s, body, len) != 0)
			return 1;
		switch (call) {
		case CALL_HELLO:
			/* magic, version 1.0, frame_max */
			memcpy(hello, MAGIC, 12);
			memcpy(hello + 12, "\0\1\0\0", 4);
			be32(hello + 16, FRAME_MAX);
			n = frame(out, id, hello, sizeof(hello));
			break;
		case CALL_LOGIN:
			/* the whole frame, the PIN in it, is read: held */
			if (write_full(ev, "L", 1) != 0 ||
			    read_full(go, &b, 1) != 0)
				return 1;
			n = frame(out, id, rv0, sizeof(rv0));
			break;
		case CALL_DECRYPT:
			/*
			 * rv 0, the output's length, its bytes: the plaintext
			 * and one byte more, held back until go
			 */
			memset(dec, 0, sizeof(dec));
			dec[15] = SECRET_LEN + 1;
			be32(dec + 16, SECRET_LEN + 1);
			memcpy(dec + 20, plain, SECRET_LEN);
			n = frame(out, id, dec, sizeof(dec));
			if (write_full(s, out, n - 1) != 0)
				return 1;
			/* unix(7): SIOCOUTQ, what the module has not read */
			for (i = 0; i < 10000; i++) {
				if (ioctl(s, SIOCOUTQ, &q) != 0)
					return 1;
				if (q == 0)
					break;
				usleep(1000);
			}
			if (q != 0 || write_full(ev, "D", 1) != 0 ||
			    read_full(go, &b, 1) != 0)
				return 1;
			out[0] = out[n - 1];
			n = 1;
			break;
		default:
			n = frame(out, id, rv0, sizeof(rv0));
			break;
		}
		if (write_full(s, out, n) != 0)
			return 1;
	}
}

/* ------------------------------------------------------------------ */
/* the calls in flight                                                  */
/* ------------------------------------------------------------------ */

struct call {
	int		 which;		/* 'L' or 'D' */
	CK_RV		 rv;
	uint8_t		 out[64];
	CK_ULONG	 outlen;
};

static void *
call_run(void *arg)
{
	struct call *c = arg;
	uint8_t ct[16];

	if (c->which == 'L') {
		c->rv = F->C_Login(1, CKU_USER, pin, sizeof(pin));
	} else {
		memset(ct, 0xa5, sizeof(ct));
		c->outlen = sizeof(c->out);
		c->rv = F->C_Decrypt(1, ct, sizeof(ct), c->out, &c->outlen);
	}
	return NULL;
}

/*
 * The call of c held by the fake end (ev, go): the parent finds want's
 * bytes, a child forked then does not; then the call completes.
 */
static void
fork_during(struct call *c, const char *what, const uint8_t *want, int ev,
    int go)
{
	pthread_t th;
	pid_t pid;
	char b = 0;
	int r, st = -1;

	if (pthread_create(&th, NULL, call_run, c) != 0)
		p11c_bail("pthread_create");
	if (read_full(ev, &b, 1) != 0 || b != c->which)
		p11c_bail("the fake daemon end did not hold %s", what);
	/*
	 * the caller's own PIN, which the module has encoded (the fake end
	 * read the frame) and reads no more: wiped, so that both scans see
	 * the module's copies only
	 */
	if (c->which == 'L')
		explicit_bzero(pin, sizeof(pin));
	r = scan(want);
	CHECK(r == 1, "%s in flight: the parent finds its secret in its "
	    "memory (the scan sees the module's copy; got %d)", what, r);
	fflush(stdout);
	if ((pid = fork()) < 0)
		p11c_bail("fork: %s", strerror(errno));
	if (pid == 0) {
		/* no CHECK output: the status says it (0 nothing found) */
		r = scan(want);
		_exit(r == 0 ? 0 : r == 1 ? 1 : 2);
	}
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s in flight: a "
	    "child forked then has no copy of its secret (status 0x%x: "
	    "exit 1 found, 2 scan failed)", what, st);
	if (write_full(go, "g", 1) != 0)
		p11c_bail("cannot tell the fake daemon end to answer");
	(void)pthread_join(th, NULL);
}

int
main(int argc, char **argv)
{
	struct sockaddr_un sun;
	struct call login = { .which = 'L' }, dec = { .which = 'D' };
	const char *tmp = getenv("M2M_TMP");
	int ls, evp[2], gop[2], i, st = -1;
	pid_t fake;

	alarm(60);	/* a hang is a failure, not a stuck test */
	if (tmp == NULL)
		p11c_bail("M2M_TMP is not set (run through run_c.sh)");
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if ((size_t)snprintf(sun.sun_path, sizeof(sun.sun_path),
	    "%s/forkwipe.sock", tmp) >= sizeof(sun.sun_path))
		p11c_bail("socket path too long");
	if (getrandom(pin, sizeof(pin), 0) != sizeof(pin) ||
	    getrandom(plain, sizeof(plain), 0) != sizeof(plain))
		p11c_bail("getrandom: %s", strerror(errno));
	for (i = 0; i < SECRET_LEN; i++) {
		pin_not[i] = (uint8_t)~pin[i];
		plain_not[i] = (uint8_t)~plain[i];
	}
	(void)unlink(sun.sun_path);
	if ((ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    bind(ls, (struct sockaddr *)&sun, sizeof(sun)) != 0 ||
	    listen(ls, 1) != 0 || pipe(evp) != 0 ||
	    pipe(gop) != 0)
		p11c_bail("the fake daemon end's socket: %s",
		    strerror(errno));
	fflush(stdout);
	if ((fake = fork()) < 0)
		p11c_bail("fork: %s", strerror(errno));
	if (fake == 0) {
		alarm(60);	/* not inherited: nor a stuck fake end */
		close(evp[0]);
		close(gop[1]);
		_exit(fake_serve(ls, evp[1], gop[0]));
	}
	close(ls);
	close(evp[1]);
	close(gop[0]);
	/* the plaintext is the fake end's: this process only decrypts it */
	explicit_bzero(plain, sizeof(plain));

	/* client mode, with the fake end as the daemon */
	if (setenv("M2MTOKEN_DAEMON_SOCKET", sun.sun_path, 1) != 0)
		p11c_bail("setenv");
	p11c_load(argc, argv);
	CHECK_RV(F->C_Initialize(NULL), CKR_OK, "C_Initialize (client mode, "
	    "the fake daemon end)");

	fork_during(&login, "C_Login", pin_not, evp[0], gop[1]);
	CHECK_RV(login.rv, CKR_OK, "C_Login answered after the fork");

	fork_during(&dec, "C_Decrypt", plain_not, evp[0], gop[1]);
	CHECK_RV(dec.rv, CKR_OK, "C_Decrypt answered after the fork");
	CHECK(dec.outlen == SECRET_LEN + 1 && is_secret(dec.out, plain_not),
	    "C_Decrypt's output is the fake end's plaintext (%lu bytes)",
	    (unsigned long)dec.outlen);

	CHECK_RV(F->C_Finalize(NULL), CKR_OK, "C_Finalize");
	close(gop[1]);
	while (waitpid(fake, &st, 0) < 0 && errno == EINTR)
		;
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the fake daemon end "
	    "served every call (status 0x%x)", st);
	return p11c_finish();
}
