/* Test helper: a throw-away SoftHSM2.  See support_softhsm.h. */
#define _GNU_SOURCE
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support_softhsm.h"

#define DEFAULT_MODULE	"/usr/lib/softhsm/libsofthsm2.so"

extern char **environ;

struct m2m_softhsm {
	char	 dir[PATH_MAX];
	char	 conf[PATH_MAX];
	char	 tokens[PATH_MAX];
	char	*old_conf;	/* SOFTHSM2_CONF before, or NULL */
	int	 set_conf;	/* we changed SOFTHSM2_CONF */
};

/* see support_softhsm.h */
const char *
m2m_softhsm_module(void)
{
	const char *m = getenv("M2M_SOFTHSM_MODULE");

	return m != NULL && *m != '\0' ? m : DEFAULT_MODULE;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	if (remove(path) != 0)
		fprintf(stderr, "softhsm: cannot remove %s\n", path);
	return 0;
}

static int
path_join(char *dst, size_t len, const char *a, const char *b)
{
	int n = snprintf(dst, len, "%s/%s", a, b);

	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* Run softhsm2-util --init-token; stdout goes to /dev/null. */
static int
init_token(const char *label, const char *pin, const char *so_pin)
{
	char *argv[] = {
		"softhsm2-util", "--init-token", "--free",
		"--label", (char *)label, "--pin", (char *)pin,
		"--so-pin", (char *)so_pin, NULL
	};
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int st = 0, r;

	if (posix_spawn_file_actions_init(&fa) != 0)
		return -1;
	if (posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null",
	    O_WRONLY, 0) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return -1;
	}
	r = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0) {
		fprintf(stderr, "softhsm: cannot run softhsm2-util: %s\n",
		    strerror(r));
		return -1;
	}
	while (waitpid(pid, &st, 0) == -1) {
		if (errno != EINTR)
			return -1;
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "softhsm: softhsm2-util --init-token --label "
		    "%s failed (status 0x%x)\n", label, st);
		return -1;
	}
	return 0;
}

/* see support_softhsm.h */
int
m2m_softhsm_new(const char *label, const char *pin, const char *so_pin,
    struct m2m_softhsm **ret)
{
	struct m2m_softhsm *sh = NULL;
	const char *tmp, *old;
	FILE *f = NULL;
	int r = -1;

	if (label == NULL || pin == NULL || so_pin == NULL || ret == NULL)
		return -1;
	if ((sh = calloc(1, sizeof(*sh))) == NULL)
		return -1;
	if ((tmp = getenv("TMPDIR")) == NULL || *tmp == '\0')
		tmp = "/tmp";
	if (path_join(sh->dir, sizeof(sh->dir), tmp,
	    "m2m-softhsm-XXXXXX") != 0 || mkdtemp(sh->dir) == NULL) {
		fprintf(stderr, "softhsm: mkdtemp in %s failed\n", tmp);
		sh->dir[0] = '\0';
		goto out;
	}
	if (path_join(sh->conf, sizeof(sh->conf), sh->dir,
	    "softhsm2.conf") != 0 ||
	    path_join(sh->tokens, sizeof(sh->tokens), sh->dir, "tokens") != 0 ||
	    mkdir(sh->tokens, 0700) != 0)
		goto out;
	if ((f = fopen(sh->conf, "w")) == NULL)
		goto out;
	if (fprintf(f, "directories.tokendir = %s\n"
	    "objectstore.backend = file\n"
	    "log.level = ERROR\n"
	    "slots.removable = false\n", sh->tokens) < 0) {
		fclose(f);
		goto out;
	}
	if (fclose(f) != 0)
		goto out;
	if ((old = getenv("SOFTHSM2_CONF")) != NULL &&
	    (sh->old_conf = strdup(old)) == NULL)
		goto out;
	if (setenv("SOFTHSM2_CONF", sh->conf, 1) != 0)
		goto out;
	sh->set_conf = 1;
	if (init_token(label, pin, so_pin) != 0)
		goto out;
	*ret = sh;
	sh = NULL;	/* transferred */
	r = 0;
 out:
	m2m_softhsm_free(sh);
	return r;
}

/* see support_softhsm.h */
int
m2m_softhsm_add_token(struct m2m_softhsm *sh, const char *label,
    const char *pin, const char *so_pin)
{
	if (sh == NULL || label == NULL || pin == NULL || so_pin == NULL)
		return -1;
	return init_token(label, pin, so_pin);
}

/* see support_softhsm.h */
const char *
m2m_softhsm_dir(const struct m2m_softhsm *sh)
{
	return sh->dir;
}

/* see support_softhsm.h */
const char *
m2m_softhsm_conf_path(const struct m2m_softhsm *sh)
{
	return sh->conf;
}

/* see support_softhsm.h */
const char *
m2m_softhsm_token_dir(const struct m2m_softhsm *sh)
{
	return sh->tokens;
}

/* see support_softhsm.h */
void
m2m_softhsm_free(struct m2m_softhsm *sh)
{
	if (sh == NULL)
		return;
	if (sh->dir[0] != '\0')
		(void)nftw(sh->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	if (sh->set_conf) {
		if (sh->old_conf != NULL)
			(void)setenv("SOFTHSM2_CONF", sh->old_conf, 1);
		else
			(void)unsetenv("SOFTHSM2_CONF");
	}
	free(sh->old_conf);
	free(sh);
}
