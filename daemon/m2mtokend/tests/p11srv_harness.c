/*
 * p11srv_harness: a small client-mode server for the tests, without the
 * daemon around it.  Listens on the Unix socket PATH; per accepted
 * connection forks a child that serves it with mtd_p11worker_run over
 * $M2MTOKEN_MODULE (dlopen'ed in local mode, M2MTOKEN_CONF as set), every
 * token visible.  tests/integration/lib.sh starts it (m2m_start_p11srv).
 *
 *   p11srv_harness PATH [FRAME_MAX [STALL_S [PREFIX]]]
 *
 * STALL_S (default 10): the most seconds a frame may take once begun;
 * no HELLO deadline and no idle limit (test_m2mtokend_dos.sh tests those
 * on the daemon).
 * PREFIX: only tokens whose label begins with it are visible (the slot
 * filter of p11srv.h; "*": every token, the blank label of the free slot
 * too).  Default: no filter.
 *
 * Ends on SIGTERM or SIGINT; each child ends with its connection.  A
 * worker that ends with a status other than 0 or 1 (its connection's
 * protocol error), or by a signal other than TERM or KILL, gets a line
 * on stderr in the words m2mtokend uses ("worker PID exited with status
 * N", "worker PID killed by signal N"), which lib.sh m2m_stop_p11srv
 * reads, with the sanitizers' reports.
 */
#define _GNU_SOURCE		/* accept4 */

#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <m2mtoken/pkcs11-m2m.h>

#include "p11worker.h"

static volatile sig_atomic_t stop;

/* p11srv_visible_fn: the label begins with the prefix arg */
static int
visible(void *arg, const CK_UTF8CHAR label[32])
{
	const char *prefix = arg;
	size_t n = strlen(prefix);

	if (strcmp(prefix, "*") == 0)
		return 1;
	return n <= 32 && memcmp(label, prefix, n) == 0;
}

/* Reaps ended workers (waiting for them all if block); logs bad ends. */
static void
reap(int block)
{
	pid_t pid;
	int st;

	while ((pid = waitpid(-1, &st, block ? 0 : WNOHANG)) > 0 ||
	    (pid < 0 && errno == EINTR)) {
		if (pid < 0)
			continue;
		if (WIFEXITED(st) && WEXITSTATUS(st) > 1)
			fprintf(stderr, "p11srv_harness: worker %ld exited "
			    "with status %d\n", (long)pid, WEXITSTATUS(st));
		else if (WIFSIGNALED(st) && WTERMSIG(st) != SIGTERM &&
		    WTERMSIG(st) != SIGKILL)
			fprintf(stderr, "p11srv_harness: worker %ld killed "
			    "by signal %d\n", (long)pid, WTERMSIG(st));
	}
}

static void
on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

int
main(int argc, char **argv)
{
	struct mtd_p11worker_limits lim;
	struct sockaddr_un sun;
	struct sigaction sa;
	CK_C_GetInterface get_interface;
	CK_INTERFACE_PTR iface = NULL;
	CK_VERSION v3 = { 3, 0 };
	const char *module = getenv("M2MTOKEN_MODULE");
	size_t frame_max = P11W_FRAME_DEFAULT;
	unsigned int stall = 10;
	char *prefix = NULL;
	void *dl;
	pid_t pid;
	int lfd, fd, r;

	if (argc < 2 || module == NULL) {
		fprintf(stderr, "usage: M2MTOKEN_MODULE=... %s PATH "
		    "[FRAME_MAX [STALL_S]]\n", argv[0]);
		return 2;
	}
	if (argc > 2)
		frame_max = strtoul(argv[2], NULL, 10);
	if (argc > 3)
		stall = (unsigned int)strtoul(argv[3], NULL, 10);
	if (argc > 4)
		prefix = argv[4];
	/* this process serves: it must not itself be a client */
	unsetenv("M2MTOKEN_DAEMON_SOCKET");
	if ((dl = dlopen(module, RTLD_NOW | RTLD_LOCAL)) == NULL ||
	    (get_interface = (CK_C_GetInterface)dlsym(dl,
	    "C_GetInterface")) == NULL ||
	    get_interface(NULL, &v3, &iface, 0) != CKR_OK) {
		fprintf(stderr, "p11srv_harness: cannot load %s\n", module);
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(argv[1]) >= sizeof(sun.sun_path))
		return 2;
	memcpy(sun.sun_path, argv[1], strlen(argv[1]));
	(void)unlink(argv[1]);
	if ((lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    bind(lfd, (struct sockaddr *)&sun, sizeof(sun)) != 0 ||
	    listen(lfd, 64) != 0) {
		perror("p11srv_harness: listen");
		return 1;
	}
	while (!stop) {
		reap(0);
		if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0) {
			if (errno == EINTR)
				continue;
			perror("p11srv_harness: accept");
			break;
		}
		if ((pid = fork()) == 0) {
			close(lfd);
			signal(SIGTERM, SIG_DFL);
			lim.frame_max = frame_max;
			lim.stall_s = stall;
			lim.hello_s = 0;
			lim.idle_s = 0;
			r = mtd_p11worker_run(fd, iface->pFunctionList,
			    prefix != NULL ? visible : NULL, prefix, &lim);
			close(fd);
			/*
			 * exit, not _exit: in the sanitizer build LeakSanitizer
			 * checks the worker at its end, as it does the daemon's
			 * own workers (lib.sh m2m_stop_p11srv reads the log).
			 * Nothing is buffered on stdout to be written twice.
			 */
			exit(r == 0 ? 0 : 1);
		}
		close(fd);
	}
	close(lfd);
	(void)unlink(argv[1]);
	/* the workers got the group's TERM too (lib.sh m2m_stop_group) */
	reap(1);
	return 0;
}
