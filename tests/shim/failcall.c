/*
 * LD_PRELOAD shim: fails a libc call whose result the module's client
 * mode must check, named by $M2M_FAILCALL; every other call goes to libc.
 *   setsockopt  SO_SNDTIMEO and SO_RCVTIMEO: -1, ENOPROTOOPT
 *   atfork      __register_atfork, what pthread_atfork calls (glibc links
 *               pthread_atfork into the caller): ENOMEM
 * For test_client_mode.sh (the module's checks of both).
 */
#define _GNU_SOURCE		/* RTLD_NEXT */

#include <sys/socket.h>

#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef int (*setsockopt_fn)(int, int, int, const void *, socklen_t);
typedef int (*atfork_fn)(void (*)(void), void (*)(void), void (*)(void),
    void *);

/* exported: the build hides symbols by default */
#define SHIM	__attribute__((visibility("default")))

SHIM int	setsockopt(int, int, int, const void *, socklen_t);
SHIM int	__register_atfork(void (*)(void), void (*)(void),
		    void (*)(void), void *);

static int
failing(const char *name)
{
	const char *f = getenv("M2M_FAILCALL");

	return f != NULL && strcmp(f, name) == 0;
}

int
setsockopt(int fd, int level, int name, const void *v, socklen_t len)
{
	setsockopt_fn real;

	if (failing("setsockopt") && level == SOL_SOCKET &&
	    (name == SO_SNDTIMEO || name == SO_RCVTIMEO)) {
		errno = ENOPROTOOPT;
		return -1;
	}
	if ((real = (setsockopt_fn)dlsym(RTLD_NEXT, "setsockopt")) == NULL) {
		errno = ENOSYS;
		return -1;
	}
	return real(fd, level, name, v, len);
}

int
__register_atfork(void (*prepare)(void), void (*parent)(void),
    void (*child)(void), void *dso)
{
	atfork_fn real;

	if (failing("atfork"))
		return ENOMEM;
	if ((real = (atfork_fn)dlsym(RTLD_NEXT, "__register_atfork")) == NULL)
		return ENOSYS;
	return real(prepare, parent, child, dso);
}
