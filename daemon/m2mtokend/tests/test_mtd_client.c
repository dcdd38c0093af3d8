/*
 * libm2mtoken-client and the m2mtoken CLI against a hostile or slow peer
 * on the socket: a thread of this test that plays the daemon, answering
 * each call with the next scripted reply after a delay.  This is the
 * attacker of docs/security-model.md that owns the socket path a client
 * is pointed at (or a daemon that answers late); the real m2mtokend is
 * tested in test_m2mtokend.sh.  $M2MTOKEN_CLI: the CLI (skipped if unset).
 */
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <m2mtoken/client.h>

#define STEPS_MAX	4

/* One scripted connection: reply[i] (without its NUL) after delay_ms[i]. */
struct fake {
	char		 dir[64];
	char		 path[108];
	int		 lfd;
	const char	*reply[STEPS_MAX];
	int		 delay_ms[STEPS_MAX];
	int		 calls;		/* frames read */
	pthread_t	 th;
};

static void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Reads one NUL-terminated frame; 0, or -1 at EOF. */
static int
read_frame(int fd)
{
	char ch;
	ssize_t n;

	for (;;) {
		n = read(fd, &ch, 1);
		if (n == 1 && ch == '\0')
			return 0;
		if (n == 0 || (n == -1 && errno != EINTR))
			return -1;
	}
}

static void *
fake_run(void *arg)
{
	struct fake *f = arg;
	int fd, i;

	if ((fd = accept(f->lfd, NULL, NULL)) == -1)
		return NULL;
	for (i = 0; i < STEPS_MAX && f->reply[i] != NULL; i++) {
		if (read_frame(fd) != 0)
			break;
		f->calls++;
		sleep_ms(f->delay_ms[i]);
		/* the client may have gone: EPIPE is not this test's error */
		(void)send(fd, f->reply[i], strlen(f->reply[i]) + 1,
		    MSG_NOSIGNAL);
	}
	/* whatever else comes is counted, never answered */
	while (read_frame(fd) == 0)
		f->calls++;
	close(fd);
	return NULL;
}

static void
fake_start(struct fake *f)
{
	struct sockaddr_un sun;

	snprintf(f->dir, sizeof(f->dir), "/tmp/m2m-test-client.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/sock", f->dir);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, f->path, strlen(f->path));
	assert_true((f->lfd = socket(AF_UNIX, SOCK_STREAM, 0)) >= 0);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&sun, sizeof(sun)),
	    0);
	assert_int_equal(listen(f->lfd, 1), 0);
	assert_int_equal(pthread_create(&f->th, NULL, fake_run, f), 0);
}

static void
fake_stop(struct fake *f)
{
	shutdown(f->lfd, SHUT_RDWR);	/* an accept() nobody met returns */
	pthread_join(f->th, NULL);
	close(f->lfd);
	unlink(f->path);
	rmdir(f->dir);
}

static const uint8_t msg[] = "hello oneM2M";
static const uint8_t forged[32];

/*
 * A reply that comes after the client's timeout must not be taken as the
 * next call's: here the late Mic reply would make a forged MIC "valid".
 */
static void
test_late_reply_not_next(void **state)
{
	struct fake f = { .reply = {
		"{\"parameters\":{\"mic\":\"AAAA\"}}",
		"{\"error\":\"io.m2mtoken.VerificationFailed\"}" },
	    .delay_ms = { 400, 0 } };
	struct m2m_client *c = NULL;
	uint8_t mic[64];
	size_t ml;

	(void)state;
	fake_start(&f);
	assert_int_equal(m2m_client_connect(f.path, 100, &c), 0);
	assert_int_equal(m2m_client_mic(c, "k", 0, msg, sizeof(msg), mic,
	    &ml, NULL), M2M_CLIENT_ERR_TIMEOUT);
	sleep_ms(500);	/* the late reply is on the socket now */
	assert_int_equal(m2m_client_verify_mic(c, "k", 0, msg, sizeof(msg),
	    forged, sizeof(forged), NULL), M2M_CLIENT_ERR_IO);
	assert_int_equal(m2m_client_status(c, NULL, NULL),
	    M2M_CLIENT_ERR_IO);
	m2m_client_close(c);
	fake_stop(&f);
	assert_int_equal(f.calls, 1);	/* nothing sent after the timeout */
}

/*
 * VerifyMic is 0 only for "valid": true; any other reply is not a yes,
 * and closes the connection as every _PROTOCOL does (client.h): the next
 * call is _IO, and nothing more is sent to that peer.
 */
static void
test_verify_needs_valid_true(void **state)
{
	static const char *replies[] = {
		"{\"parameters\":{}}",
		"{}",
		"{\"parameters\":{\"valid\":false}}",
		"{\"parameters\":{\"valid\":\"true\"}}",
		"{\"parameters\":{\"valid\":1}}",
		"{\"parameters\":{\"valid\":null}}",
	};
	struct m2m_client *c = NULL;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(replies) / sizeof(replies[0]); i++) {
		struct fake f = { .reply = { replies[i] } };

		fake_start(&f);
		assert_int_equal(m2m_client_connect(f.path, 2000, &c), 0);
		assert_int_equal(m2m_client_verify_mic(c, "k", 0, msg,
		    sizeof(msg), forged, sizeof(forged), NULL),
		    M2M_CLIENT_ERR_PROTOCOL);
		assert_int_equal(m2m_client_status(c, NULL, NULL),
		    M2M_CLIENT_ERR_IO);
		m2m_client_close(c);
		fake_stop(&f);
		assert_int_equal(f.calls, 1);
	}
	{
		struct fake f = { .reply = {
		    "{\"parameters\":{\"valid\":true}}" } };

		fake_start(&f);
		assert_int_equal(m2m_client_connect(f.path, 2000, &c), 0);
		assert_int_equal(m2m_client_verify_mic(c, "k", 0, msg,
		    sizeof(msg), forged, sizeof(forged), NULL), 0);
		m2m_client_close(c);
		fake_stop(&f);
	}
}

/* An error's reason and detail reach the caller without control bytes. */
static void
test_error_strings_printable(void **state)
{
	struct fake f = { .reply = {
		"{\"error\":\"io.m2mtoken.NoSuchKey\",\"parameters\":"
		"{\"reason\":\"\\u001b]0;pwned\\u0007\\u001b[2J\","
		"\"detail\":\"a\\nb\\u007f\"}}" } };
	struct m2m_client_error err;
	struct m2m_client *c = NULL;

	(void)state;
	fake_start(&f);
	assert_int_equal(m2m_client_connect(f.path, 2000, &c), 0);
	assert_int_equal(m2m_client_status(c, NULL, &err),
	    M2M_CLIENT_ERR_REMOTE);
	assert_string_equal(err.name, "io.m2mtoken.NoSuchKey");
	assert_string_equal(err.reason, "?]0;pwned??[2J");
	assert_string_equal(err.detail, "a?b?");
	m2m_client_close(c);
	fake_stop(&f);
}

/*
 * C1 controls are valid UTF-8 ("c2 9b" is CSI, as ESC [ is): they become
 * '?' as well, raw or as \u escapes, while other UTF-8 (U+00A0, é, 日本)
 * is kept; a long string is cut between characters, never inside one.
 */
static void
test_error_strings_no_c1(void **state)
{
	static char reply[600];
	struct fake f = { .reply = { reply } };
	struct m2m_client_error err;
	struct m2m_client *c = NULL;
	char want[256];

	(void)state;
	/* detail: 254 bytes of x, then é (2 bytes) that no longer fits */
	memset(want, 'x', 254);
	want[254] = '\0';
	snprintf(reply, sizeof(reply), "{\"error\":\"io.m2mtoken.NoSuchKey\","
	    "\"parameters\":{\"reason\":\"\xc2\x9b" "2J\\u009b31m\xc2\x85"
	    "\xc2\x80\xc2\x9f|\xc2\xa0" "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac\","
	    "\"detail\":\"%s\xc3\xa9\"}}", want);
	fake_start(&f);
	assert_int_equal(m2m_client_connect(f.path, 2000, &c), 0);
	assert_int_equal(m2m_client_status(c, NULL, &err),
	    M2M_CLIENT_ERR_REMOTE);
	assert_string_equal(err.reason, "?2J?31m???|\xc2\xa0" "caf\xc3\xa9 "
	    "\xe6\x97\xa5\xe6\x9c\xac");
	assert_string_equal(err.detail, want);
	m2m_client_close(c);
	fake_stop(&f);
}

/* A member of the wrong type is a malformed reply, never a crash. */
static void
test_wrong_member_types(void **state)
{
	struct m2m_client *c = NULL;
	uint8_t mic[64], iv[12], *ct = NULL;
	size_t ml, ctl;
	char *s = NULL;

	(void)state;
	{
		struct fake f = { .reply = {
		    "{\"parameters\":{\"mic\":null}}" } };

		fake_start(&f);
		assert_int_equal(m2m_client_connect(f.path, 2000, &c), 0);
		assert_int_equal(m2m_client_mic(c, "k", 0, msg, sizeof(msg),
		    mic, &ml, NULL), M2M_CLIENT_ERR_PROTOCOL);
		/* closed, as after every _PROTOCOL: nothing more sent */
		assert_int_equal(m2m_client_mic(c, "k", 0, msg, sizeof(msg),
		    mic, &ml, NULL), M2M_CLIENT_ERR_IO);
		m2m_client_close(c);
		fake_stop(&f);
		assert_int_equal(f.calls, 1);
	}
	{
		struct fake f = { .reply = {
		    "{\"parameters\":{\"iv\":\"AAAAAAAAAAAAAAAA\","
		    "\"ciphertext\":[1]}}" } };

		fake_start(&f);
		assert_int_equal(m2m_client_connect(f.path, 2000, &c), 0);
		assert_int_equal(m2m_client_seal(c, "k", 0, NULL, 0, msg,
		    sizeof(msg), iv, &ct, &ctl, NULL),
		    M2M_CLIENT_ERR_PROTOCOL);
		assert_null(ct);
		m2m_client_close(c);
		fake_stop(&f);
	}
	{
		struct fake f = { .reply = {
		    "{\"parameters\":{\"keId\":7}}" } };
		const char *t[] = { "CAE-target" };

		fake_start(&f);
		assert_int_equal(m2m_client_connect(f.path, 2000, &c), 0);
		assert_int_equal(m2m_client_bootstrap(c, t, 1, &s, NULL),
		    M2M_CLIENT_ERR_PROTOCOL);
		assert_null(s);
		m2m_client_close(c);
		fake_stop(&f);
	}
}

/*
 * The CLI against one reply: its exit status (or -signal) and what it
 * wrote to stderr and stdout (at most cap - 1 bytes each, NUL-ended).
 */
static int
cli_run(const char *reply, char *const argv_tail[], char *err, size_t cap,
    char *out, size_t ocap)
{
	const char *cli = getenv("M2MTOKEN_CLI");
	struct fake f = { .reply = { reply } };
	char *argv[16];
	int ep[2], op[2], st, i, n;
	size_t el = 0, ol = 0;
	ssize_t k;
	pid_t pid;
	struct pollfd pf[2];

	fake_start(&f);
	argv[0] = (char *)cli;
	argv[1] = (char *)"-s";
	argv[2] = f.path;
	for (n = 3, i = 0; argv_tail[i] != NULL && n < 15; i++)
		argv[n++] = argv_tail[i];
	argv[n] = NULL;
	assert_int_equal(pipe(ep), 0);
	assert_int_equal(pipe(op), 0);
	assert_true((pid = fork()) >= 0);
	if (pid == 0) {
		dup2(op[1], 1);
		dup2(ep[1], 2);
		close(ep[0]);
		close(op[0]);
		execv(cli, argv);
		_exit(127);
	}
	close(ep[1]);
	close(op[1]);
	pf[0].fd = ep[0];
	pf[1].fd = op[0];
	pf[0].events = pf[1].events = POLLIN;
	while (pf[0].fd != -1 || pf[1].fd != -1) {
		if (poll(pf, 2, 10000) <= 0)
			break;
		for (i = 0; i < 2; i++) {
			char *b = i == 0 ? err : out;
			size_t *l = i == 0 ? &el : &ol;
			size_t c = i == 0 ? cap : ocap;

			if (pf[i].fd == -1 || pf[i].revents == 0)
				continue;
			if (*l + 1 < c)
				k = read(pf[i].fd, b + *l, c - 1 - *l);
			else {
				char sink[256];

				k = read(pf[i].fd, sink, sizeof(sink));
				if (k > 0)
					continue;
			}
			if (k <= 0) {
				close(pf[i].fd);
				pf[i].fd = -1;
			} else
				*l += (size_t)k;
		}
	}
	err[el] = '\0';
	out[ol] = '\0';
	assert_int_equal(waitpid(pid, &st, 0), pid);
	fake_stop(&f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
}

/*
 * The CLI: a null or mistyped member is a clean error, not a crash; a
 * VerifyMic reply without "valid": true is exit 5; no ESC from the socket
 * reaches the terminal.
 */
static void
test_cli_hostile_replies(void **state)
{
	char *mic[] = { "mic", "--key", "k", "--data", "hi", NULL };
	char *mic_json[] = { "--json", "mic", "--key", "k", "--data", "hi",
	    NULL };
	char *open[] = { "open", "--key", "k", "--iv",
	    "000000000000000000000000", "--ciphertext",
	    "00000000000000000000000000000000", NULL };
	char *verify[] = { "verify-mic", "--key", "k", "--mic", "00",
	    "--data", "hi", NULL };
	char *verify_json[] = { "--json", "verify-mic", "--key", "k", "--mic",
	    "00", "--data", "hi", NULL };
	char *status[] = { "status", NULL };
	char *keys[] = { "list-keys", NULL };
	char err[4096], out[4096];

	(void)state;
	if (getenv("M2MTOKEN_CLI") == NULL)
		skip();
	assert_int_equal(cli_run("{\"parameters\":{\"mic\":null}}", mic,
	    err, sizeof(err), out, sizeof(out)), 1);
	assert_non_null(strstr(err, "malformed"));
	assert_int_equal(cli_run("{\"parameters\":{\"plaintext\":null}}",
	    open, err, sizeof(err), out, sizeof(out)), 1);
	assert_non_null(strstr(err, "malformed"));
	assert_int_equal(cli_run("{\"parameters\":{\"keys\":{}}}", keys,
	    err, sizeof(err), out, sizeof(out)), 1);
	/* a good reply still works, in both outputs */
	assert_int_equal(cli_run("{\"parameters\":{\"mic\":\"AAEC\"}}", mic,
	    err, sizeof(err), out, sizeof(out)), 0);
	assert_string_equal(out, "000102\n");
	assert_int_equal(cli_run("{\"parameters\":{\"mic\":\"AAEC\"}}",
	    mic_json, err, sizeof(err), out, sizeof(out)), 0);
	assert_non_null(strstr(out, "AAEC"));
	/* verify-mic: exit 0 only for "valid": true, --json too */
	assert_int_equal(cli_run("{\"parameters\":{}}", verify, err,
	    sizeof(err), out, sizeof(out)), 5);
	assert_null(strstr(out, "valid"));
	assert_int_equal(cli_run("{\"parameters\":{\"valid\":false}}",
	    verify_json, err, sizeof(err), out, sizeof(out)), 5);
	assert_int_equal(cli_run("{\"parameters\":{\"valid\":true}}", verify,
	    err, sizeof(err), out, sizeof(out)), 0);
	assert_string_equal(out, "MIC valid\n");
	/* terminal escapes in an error and in a reply's strings */
	assert_int_equal(cli_run("{\"error\":\"io.m2mtoken.NoSuchKey\","
	    "\"parameters\":{\"reason\":\"\\u001b]0;pwned\\u0007\"}}", status,
	    err, sizeof(err), out, sizeof(out)), 6);
	assert_null(strchr(err, '\033'));
	assert_non_null(strstr(err, "?]0;pwned?"));
	assert_int_equal(cli_run("{\"parameters\":{\"version\":"
	    "\"\\u001b[2J1.0\"}}", status, err, sizeof(err), out,
	    sizeof(out)), 0);
	assert_null(strchr(out, '\033'));
	assert_non_null(strstr(out, "?[2J1.0"));
}

/*
 * The CLI: C1 controls (UTF-8 "c2 80".."c2 9f"; "c2 9b" is CSI) from the
 * socket reach no terminal either: '?' in what it shows, \u escapes in
 * --json and call output (the same JSON); other UTF-8 is shown as it is.
 */
static void
test_cli_no_c1(void **state)
{
	static const char reply[] = "{\"parameters\":{\"version\":"
	    "\"\xc2\x9b" "2J\\u0085caf\xc3\xa9 \xe6\x97\xa5\x7f\"}}";
	char *status[] = { "status", NULL };
	char *status_json[] = { "--json", "status", NULL };
	char *call[] = { "call", "io.m2mtoken.Status", NULL };
	char *keys[] = { "list-keys", NULL };
	char err[4096], out[4096];

	(void)state;
	if (getenv("M2MTOKEN_CLI") == NULL)
		skip();
	assert_int_equal(cli_run(reply, status, err, sizeof(err), out,
	    sizeof(out)), 0);
	assert_null(strstr(out, "\xc2\x9b"));
	assert_null(strstr(out, "\xc2\x85"));
	assert_non_null(strstr(out, "version:     ?2J?caf\xc3\xa9 "
	    "\xe6\x97\xa5?\n"));
	assert_int_equal(cli_run(reply, status_json, err, sizeof(err), out,
	    sizeof(out)), 0);
	assert_null(strstr(out, "\xc2\x9b"));
	assert_null(strstr(out, "\xc2\x85"));
	assert_null(strchr(out, 0x7f));
	assert_non_null(strstr(out, "\"\\u009b2J\\u0085caf\xc3\xa9 "
	    "\xe6\x97\xa5\\u007f\""));
	assert_int_equal(cli_run(reply, call, err, sizeof(err), out,
	    sizeof(out)), 0);
	assert_null(strstr(out, "\xc2\x9b"));
	assert_non_null(strstr(out, "\\u009b2J\\u0085caf\xc3\xa9 "));
	/* a label of list-keys, and an error's reason */
	assert_int_equal(cli_run("{\"parameters\":{\"keys\":[{\"key\":"
	    "\"gw\xc2\x9b" "31m\xc3\xa9\"}]}}", keys, err, sizeof(err), out,
	    sizeof(out)), 0);
	assert_string_equal(out, "gw?31m\xc3\xa9\n");
	assert_int_equal(cli_run("{\"error\":\"io.m2mtoken.NoSuchKey\","
	    "\"parameters\":{\"reason\":\"\xc2\x9b" "2Jgone\"}}", status,
	    err, sizeof(err), out, sizeof(out)), 6);
	assert_null(strstr(err, "\xc2\x9b"));
	assert_non_null(strstr(err, "?2Jgone"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_late_reply_not_next),
		cmocka_unit_test(test_verify_needs_valid_true),
		cmocka_unit_test(test_error_strings_printable),
		cmocka_unit_test(test_error_strings_no_c1),
		cmocka_unit_test(test_wrong_member_types),
		cmocka_unit_test(test_cli_hostile_replies),
		cmocka_unit_test(test_cli_no_c1),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
