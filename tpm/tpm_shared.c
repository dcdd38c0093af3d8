/*
 * m2mtoken: the TPM backend's shared mode: the lock between processes,
 * the end of a call and the retry with back-off (TPM_RUN_CALL in
 * tpm_int.h runs every call through them).
 *
 * Two modes, chosen at open by [tpm] mode (conf.h); with mode = auto, the
 * default, by the TCTI: shared for swtpm: and mssim:, exclusive otherwise.
 *   exclusive  (device:, tabrmd:, ...): a resource manager (/dev/tpmrm0,
 *              abrmd) gives this connection its own slots, or the device is
 *              opened by one process only.  The primary, the sessions and up
 *              to (slots - 2) keys stay loaded: a cached HMAC is 1 command.
 *              Also right for a simulator that one process owns.
 *   shared     (swtpm:, mssim:): a socket simulator serves any number of
 *              processes, command by command, with no resource manager.
 *              Between calls this process holds nothing in the TPM: the
 *              primary, the cached keys and the sessions are kept as saved
 *              contexts (TPM2_ContextSave, reloaded with TPM2_ContextLoad
 *              when a call first needs them).  The calls of a
 *              user's m2mtoken processes in this mode are serialised by
 *              flock(2) on a lock file (m2m_backend_lock_file: in
 *              $XDG_RUNTIME_DIR, else beside the store); a call that still finds the
 *              TPM full (another program) is undone and retried for up to
 *              20 s.  A cached HMAC is 5 commands.
 */
#define _GNU_SOURCE	/* secure_getenv */
#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_rc.h>

#include "err.h"
#include "log.h"
#include "tpm_int.h"

#define TPM_RETRY_MS		20000	/* shared: how long a call retries */

/* see tpm_int.h */
void
m2m_tpm_shared_lock_open(struct tpm *t, const char *store_path)
{
	t->lockfd = m2m_backend_lock_file("tpm", store_path);
}

/* see tpm_int.h */
void
m2m_tpm_shared_lock(struct tpm *t)
{
	if (!t->shared || t->lockfd < 0)
		return;
	while (flock(t->lockfd, LOCK_EX) == -1 && errno == EINTR)
		;
}

/* see tpm_int.h */
void
m2m_tpm_shared_unlock(struct tpm *t)
{
	if (!t->shared || t->lockfd < 0)
		return;
	(void)flock(t->lockfd, LOCK_UN);
}

/* see tpm_int.h */
void
m2m_tpm_call_end(struct tpm *t)
{
	TSS2_RC rc;
	size_t i;

	if (!t->shared)
		return;
	for (i = 0; i < t->nents; i++)
		m2m_tpm_ent_unload(t, &t->ents[i]);
	if (t->primary_live) {
		m2m_tpm_flush(t, &t->primary);
		t->primary_live = 0;
	}
	if (m2m_tpm_sess_state(t->fs) == TPM_SESS_LOADED) {
		TPM_CMD(t);
		if ((rc = m2m_tpm_sess_save(t->fs)) != TSS2_RC_SUCCESS)
			/* lost (forgotten): the next call starts a new one */
			m2m_debug("tpm: ContextSave (session): %s",
			    Tss2_RC_Decode(rc));
	}
}

/* see tpm_int.h */
uint64_t
m2m_tpm_now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* see tpm_int.h */
int
m2m_tpm_backoff(struct tpm *t, unsigned attempt, uint64_t start)
{
	struct timespec ts;
	unsigned long ms;

	if (m2m_tpm_now_ms() - start > TPM_RETRY_MS) {
		m2m_error("tpm: the TPM stayed full for %d s: other programs "
		    "hold its objects (use a resource manager)",
		    TPM_RETRY_MS / 1000);
		return -1;
	}
	t->seed = t->seed * 6364136223846793005ULL + 1442695040888963407ULL;
	ms = 1 + (unsigned long)((t->seed >> 33) % (attempt < 10 ? 4 : 16));
	ts.tv_sec = 0;
	ts.tv_nsec = (long)ms * 1000000L;
	(void)nanosleep(&ts, NULL);
	return 0;
}
