/* m2mtoken: backend-independent helpers.  See backend.h. */
#define _GNU_SOURCE	/* secure_getenv */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "err.h"
#include "log.h"

/* see backend.h */
size_t
m2m_hash_len(enum m2m_hash h)
{
	switch (h) {
	case M2M_HASH_SHA256:	return 32;
	case M2M_HASH_SHA384:	return 48;
	case M2M_HASH_SHA512:	return 64;
	default:		return 0;
	}
}

/* see backend.h */
int
m2m_backend_key_len_ok(enum m2m_key_kind kind, size_t len)
{
	switch (kind) {
	case M2M_KIND_HMAC:	return len >= 1 && len <= M2M_KEY_MAX;
	case M2M_KIND_AES:	return len == 16 || len == 24 || len == 32;
	default:		return 0;
	}
}

/* see backend.h */
int
m2m_backend_gcm_check(size_t ivlen, size_t taglen)
{
	if (ivlen < 1 || ivlen > M2M_GCM_IV_MAX || taglen < M2M_GCM_TAG_MIN ||
	    taglen > M2M_GCM_TAG_MAX)
		return M2M_ERR_MECHANISM_PARAM;
	return 0;
}

/* path, open as a lock file of this user: the fd, or -1 (why in *why). */
static int
lock_at(const char *path, const char **why)
{
	struct stat st;
	int fd;

	if ((fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
	    0600)) == -1) {
		*why = strerror(errno);
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_uid != geteuid()) {
		*why = "not a file of this user";
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * see backend.h.  The order matters: every process of this user that
 * shares the backend (one TPM, one HSM token) must take the same file,
 * whatever its store, so the per-user places come first; the file beside
 * the store, which only processes of that store share, is the last
 * resort, when /tmp's was made first by someone else.
 */
int
m2m_backend_lock_file(const char *name, const char *store_path)
{
	const char *dir = secure_getenv("XDG_RUNTIME_DIR"), *why = "";
	char path[3][PATH_MAX], tmp[PATH_MAX];
	size_t i, n = 0;
	int fd, k;

	if (dir != NULL && dir[0] == '/') {
		k = snprintf(path[n], sizeof(path[n]), "%s/m2mtoken-%s.lock",
		    dir, name);
		if (k > 0 && (size_t)k < sizeof(path[n]))
			n++;
	}
	k = snprintf(path[n], sizeof(path[n]), "/tmp/m2mtoken-%s-%lu.lock",
	    name, (unsigned long)geteuid());
	if (k > 0 && (size_t)k < sizeof(path[n]))
		n++;
	if (store_path != NULL && store_path[0] == '/' &&
	    strlen(store_path) < sizeof(tmp)) {
		memcpy(tmp, store_path, strlen(store_path) + 1);
		k = snprintf(path[n], sizeof(path[n]), "%s/.m2mtoken-%s.lock",
		    dirname(tmp), name);
		if (k > 0 && (size_t)k < sizeof(path[n]))
			n++;
	}
	for (i = 0; i < n; i++) {
		if ((fd = lock_at(path[i], &why)) != -1) {
			if (i + 1 == n && i > 0)
				m2m_warn("%s lock file: %.200s (%s) could not "
				    "be had, so %.200s beside the store is "
				    "used: processes of other stores on the "
				    "same backend are not serialised with this "
				    "one; set XDG_RUNTIME_DIR", name,
				    path[i - 1], why, path[i]);
			return fd;
		}
		m2m_debug("%s lock file %.200s: %s", name, path[i], why);
	}
	m2m_error("no %s lock file could be had (the last tried: %.200s: "
	    "%s): processes sharing this backend are not serialised", name,
	    n > 0 ? path[n - 1] : "", why);
	return -1;
}
