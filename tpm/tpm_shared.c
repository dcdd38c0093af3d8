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
 *              primary and the cached keys are kept as saved contexts
 *              (TPM2_ContextSave, reloaded with TPM2_ContextLoad when a
 *              call first needs them), and the session is flushed (a
 *              saved one would still take an active-session slot, lost
 *              for good if the process died: see m2m_tpm_call_end).  The
 *              calls of a
 *              user's m2mtoken processes in this mode are serialised by
 *              a record lock on a lock file (m2m_backend_lock_file: in
 *              $XDG_RUNTIME_DIR, else beside the store), waited for up to
 *              20 s; a call that still finds the TPM full (another
 *              program) is undone and retried within the same 20 s.  A
 *              cached HMAC is 7 commands.
 *
 * The lock between processes is a POSIX record lock (fcntl F_SETLK on the
 * whole file), not flock(2): a flock belongs to the open file description,
 * which a child forked without exec shares (the backend stays open in it:
 * docs/security-model.md, "Processes: fork()"), so a holder's death did
 * not free it while such a child lived, and every call of every process
 * of the user waited, without a bound, for the child to exit (found in
 * review: 67 s).  A record lock belongs to the process: freed when it
 * dies, never inherited.  Its two costs: it does not exclude the other
 * backends of this process (proc_lock does, held with it), and closing any
 * descriptor of the file drops all of this process's record locks on it,
 * so the lock file is opened and closed under proc_lock too.  The wait is
 * polled, so it is bounded by the call's budget: a holder that is alive
 * but stuck (stopped, in a debugger) fails our call with M2M_ERR_BUSY
 * after 20 s instead of hanging it.
 */
#define _GNU_SOURCE	/* secure_getenv */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
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

#define TPM_RETRY_MS		20000	/* shared: a call's budget (lock, retry) */

/* held with the record lock: see the top of this file */
static pthread_mutex_t proc_lock = PTHREAD_MUTEX_INITIALIZER;

/* see tpm_int.h */
void
m2m_tpm_shared_lock_open(struct tpm *t, const char *store_path)
{
	pthread_mutex_lock(&proc_lock);
	t->lockfd = m2m_backend_lock_file("tpm", store_path);
	pthread_mutex_unlock(&proc_lock);
}

/* see tpm_int.h */
void
m2m_tpm_shared_lock_close(struct tpm *t)
{
	if (t->lockfd < 0)
		return;
	pthread_mutex_lock(&proc_lock);
	(void)close(t->lockfd);
	pthread_mutex_unlock(&proc_lock);
	t->lockfd = -1;
}

static int
record_lock(int fd, short type)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = type;
	fl.l_whence = SEEK_SET;	/* l_start 0, l_len 0: the whole file */
	return fcntl(fd, F_SETLK, &fl);
}

/* see tpm_int.h */
int
m2m_tpm_shared_lock(struct tpm *t, uint64_t start)
{
	struct timespec ts;
	unsigned n = 0;
	int e;

	if (!t->shared || t->lockfd < 0)
		return 0;
	for (;;) {
		if (pthread_mutex_trylock(&proc_lock) == 0) {
			if (record_lock(t->lockfd, F_WRLCK) == 0)
				return 0;
			e = errno;
			if (e != EAGAIN && e != EACCES && e != EINTR) {
				/* as without a lock file: the retries remain */
				m2m_debug("tpm: lock file: %s", strerror(e));
				return 0;
			}
			pthread_mutex_unlock(&proc_lock);
		}
		if (m2m_tpm_now_ms() - start > TPM_RETRY_MS) {
			m2m_error("tpm: another call (of this process or of "
			    "another of this user's processes) has held the "
			    "TPM's shared-mode lock for %d s: call refused",
			    TPM_RETRY_MS / 1000);
			return M2M_ERR_BUSY;
		}
		/* 1 ms at first, then up to 16: short calls, random turns */
		t->seed = t->seed * 6364136223846793005ULL +
		    1442695040888963407ULL;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)(1 + (t->seed >> 33) % (++n < 20 ? 2 : 16)) *
		    1000000L;
		(void)nanosleep(&ts, NULL);
	}
}

/* see tpm_int.h */
void
m2m_tpm_shared_unlock(struct tpm *t)
{
	if (!t->shared || t->lockfd < 0)
		return;
	(void)record_lock(t->lockfd, F_UNLCK);
	pthread_mutex_unlock(&proc_lock);
}

/* see tpm_int.h */
void
m2m_tpm_call_end(struct tpm *t)
{
	size_t i;

	if (!t->shared)
		return;
	for (i = 0; i < t->nents; i++)
		m2m_tpm_ent_unload(t, &t->ents[i]);
	if (t->primary_live) {
		m2m_tpm_flush(t, &t->primary);
		t->primary_live = 0;
	}
	/*
	 * The session is flushed, not saved: a saved session still holds
	 * one of the TPM's active-session slots (64 on swtpm), and a process
	 * that ended without close (a crash, a kill, a program that never
	 * calls C_Finalize) left it there for good, until no process could
	 * start one (found in review).  A saved object context holds
	 * nothing in the TPM, so the primary and the keys stay saved.  The
	 * cost: each call that uses the session starts its own (an ECDH
	 * and TPM2_StartAuthSession, with the primary loaded for it).
	 */
	if (m2m_tpm_sess_state(t->fs) != TPM_SESS_NONE) {
		TPM_CMD(t);
		m2m_tpm_sess_forget(t->fs);
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
