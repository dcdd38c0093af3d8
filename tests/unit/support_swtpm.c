/* m2mtoken tests: a private swtpm on loopback.  See support_swtpm.h. */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "support_swtpm.h"

#define SWTPM_MAX	8	/* instances per test process */
#define START_TRIES	5	/* port pairs tried when one is taken */

struct m2m_swtpm {
	char	dir[PATH_MAX];
	char	tcti[64];
	int	port;
	pid_t	pid;		/* 0: not running; also the process group */
};

static struct m2m_swtpm *running[SWTPM_MAX];
static int atexit_done;

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static void
kill_group(struct m2m_swtpm *s)
{
	int i, status;

	if (s->pid <= 0)
		return;
	(void)kill(-s->pid, SIGTERM);
	for (i = 0; i < 500; i++) {
		if (waitpid(s->pid, &status, WNOHANG) == s->pid)
			goto reaped;
		sleep_ms(10);
	}
	(void)kill(-s->pid, SIGKILL);
	(void)waitpid(s->pid, &status, 0);
 reaped:
	for (i = 0; i < SWTPM_MAX; i++)
		if (running[i] == s)
			running[i] = NULL;
	s->pid = 0;
}

static void
kill_all_at_exit(void)
{
	int i;

	for (i = 0; i < SWTPM_MAX; i++)
		if (running[i] != NULL)
			kill_group(running[i]);
}

/* 1 if a listening socket could bind 127.0.0.1:port right now. */
static int
port_free(int port)
{
	struct sockaddr_in a;
	int fd, ok, one = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return 0;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((unsigned short)port);
	ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

/*
 * A port P such that P and P+1 are both free on 127.0.0.1 right now,
 * chosen below the kernel's ephemeral range (32768-60999 by default):
 * tcti-swtpm reconnects for every command, so that range fills with
 * connections whose local ports a server cannot bind.
 */
int
m2m_free_port_pair(void)
{
	static int seeded;
	int tries, port;

	if (!seeded) {
		/* parallel test processes must not try the same ports */
		srandom((unsigned)getpid() ^ (unsigned)time(NULL));
		seeded = 1;
	}
	for (tries = 0; tries < 1000; tries++) {
		port = 20000 + 2 * (int)(random() % 6000);
		if (port_free(port) && port_free(port + 1))
			return port;
	}
	return -1;
}

static int
accepts(int port)
{
	struct sockaddr_in a;
	int fd, ok;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((unsigned short)port);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return 0;
	ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

/* fork+exec swtpm on a fresh port pair; wait until it accepts. */
static int
spawn(struct m2m_swtpm *s)
{
	char server[128], ctrl[128], state[PATH_MAX + 16], pidf[PATH_MAX + 32];
	char logf[PATH_MAX + 16];
	pid_t parent = getpid(), pid;
	int port, i, status, fd, slot, attempt;

	for (slot = 0; slot < SWTPM_MAX && running[slot] != NULL; slot++)
		;
	if (slot == SWTPM_MAX) {
		fprintf(stderr, "swtpm: too many instances\n");
		return -1;
	}
	for (attempt = 0; attempt < START_TRIES; attempt++) {
		if ((port = m2m_free_port_pair()) < 0) {
			fprintf(stderr, "swtpm: no free port pair\n");
			return -1;
		}
		(void)snprintf(server, sizeof(server),
		    "type=tcp,port=%d,bindaddr=127.0.0.1", port);
		(void)snprintf(ctrl, sizeof(ctrl),
		    "type=tcp,port=%d,bindaddr=127.0.0.1", port + 1);
		(void)snprintf(state, sizeof(state), "dir=%s", s->dir);
		(void)snprintf(pidf, sizeof(pidf), "file=%s/swtpm.pid",
		    s->dir);
		(void)snprintf(logf, sizeof(logf), "%s/swtpm.log", s->dir);
		if ((pid = fork()) == -1) {
			perror("swtpm: fork");
			return -1;
		}
		if (pid == 0) {
			/* watchdog: die with the test process, however */
			(void)setpgid(0, 0);
			(void)prctl(PR_SET_PDEATHSIG, SIGTERM);
			if (getppid() != parent)
				_exit(127);
			if ((fd = open("/dev/null", O_RDONLY)) != -1) {
				(void)dup2(fd, 0);
				close(fd);
			}
			if ((fd = open(logf, O_WRONLY | O_CREAT | O_APPEND,
			    0600)) != -1) {
				(void)dup2(fd, 1);
				(void)dup2(fd, 2);
				close(fd);
			}
			execlp("swtpm", "swtpm", "socket", "--tpm2",
			    "--server", server, "--ctrl", ctrl,
			    "--tpmstate", state, "--pid", pidf,
			    "--flags", "not-need-init,startup-clear",
			    (char *)NULL);
			_exit(127);
		}
		(void)setpgid(pid, pid);
		s->pid = pid;
		running[slot] = s;
		if (!atexit_done) {
			atexit(kill_all_at_exit);
			atexit_done = 1;
		}
		for (i = 0; i < 1000; i++) {
			if (waitpid(pid, &status, WNOHANG) == pid) {
				/* it died: port taken meanwhile, or no swtpm */
				running[slot] = NULL;
				s->pid = 0;
				if (WIFEXITED(status) &&
				    WEXITSTATUS(status) == 127) {
					fprintf(stderr, "swtpm: cannot run "
					    "swtpm (not installed?)\n");
					return -1;
				}
				break;
			}
			if (accepts(port)) {
				s->port = port;
				(void)snprintf(s->tcti, sizeof(s->tcti),
				    "swtpm:host=127.0.0.1,port=%d", port);
				return 0;
			}
			sleep_ms(10);
		}
		if (s->pid != 0)
			kill_group(s);
	}
	fprintf(stderr, "swtpm: did not start (see %s)\n", logf);
	return -1;
}

/* see support_swtpm.h */
int
m2m_swtpm_start(struct m2m_swtpm **ret)
{
	struct m2m_swtpm *s;
	const char *tmp = getenv("TMPDIR");

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -1;
	(void)snprintf(s->dir, sizeof(s->dir), "%s/m2m-swtpm-XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(s->dir) == NULL) {
		perror("swtpm: mkdtemp");
		free(s);
		return -1;
	}
	if (spawn(s) != 0) {
		m2m_swtpm_free(s);
		return -1;
	}
	*ret = s;
	return 0;
}

/* see support_swtpm.h */
const char *
m2m_swtpm_tcti(const struct m2m_swtpm *s)
{
	return s->tcti;
}

/* see support_swtpm.h */
const char *
m2m_swtpm_dir(const struct m2m_swtpm *s)
{
	return s->dir;
}

/* see support_swtpm.h */
void
m2m_swtpm_stop(struct m2m_swtpm *s)
{
	if (s != NULL)
		kill_group(s);
}

/* see support_swtpm.h */
int
m2m_swtpm_restart(struct m2m_swtpm *s)
{
	kill_group(s);
	return spawn(s);
}

/* see support_swtpm.h */
void
m2m_swtpm_free(struct m2m_swtpm *s)
{
	char path[PATH_MAX + NAME_MAX + 2];
	struct dirent *de;
	DIR *d;

	if (s == NULL)
		return;
	kill_group(s);
	if ((d = opendir(s->dir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			(void)snprintf(path, sizeof(path), "%s/%s", s->dir,
			    de->d_name);
			(void)unlink(path);
		}
		closedir(d);
	}
	(void)rmdir(s->dir);
	free(s);
}
