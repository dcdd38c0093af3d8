/*
 * daemon/common: peer credentials (see peer.h).
 */
#define _GNU_SOURCE	/* struct ucred */
#include <sys/socket.h>
#include <sys/types.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errors.h"
#include "peer.h"

#define PWBUF_MAX	(1024 * 1024)

/*
 * The groups of uid (gid first) into a new array; just gid if uid has no
 * passwd entry.
 */
static int
groups_of(uid_t uid, gid_t gid, gid_t **ret_groups, size_t *ret_n)
{
	struct passwd pw, *pwp = NULL;
	gid_t *groups = NULL, *ng;
	char *pwbuf = NULL, *nb;
	size_t pwlen = 1024;
	int n, e, r = M2M_IPC_ERR_INTERNAL;

	for (;;) {
		if ((nb = realloc(pwbuf, pwlen)) == NULL) {
			r = M2M_IPC_ERR_NO_MEMORY;
			goto out;
		}
		pwbuf = nb;
		e = getpwuid_r(uid, &pw, pwbuf, pwlen, &pwp);
		if (e != ERANGE)
			break;
		if (pwlen >= PWBUF_MAX) {
			r = M2M_IPC_ERR_NO_MEMORY;
			goto out;
		}
		pwlen *= 2;
	}
	n = pwp == NULL ? 1 : 16;
	for (;;) {
		if ((ng = reallocarray(groups, (size_t)n,
		    sizeof(*groups))) == NULL) {
			r = M2M_IPC_ERR_NO_MEMORY;
			goto out;
		}
		groups = ng;
		if (pwp == NULL) {
			groups[0] = gid;
			break;
		}
		/* with the SO_PEERCRED gid as the base group, so it is first */
		if (getgrouplist(pwp->pw_name, gid, groups, &n) != -1)
			break;
		if (n > M2M_PEER_GROUPS_MAX) {
			/* keep the first M2M_PEER_GROUPS_MAX */
			n = M2M_PEER_GROUPS_MAX;
			if ((ng = reallocarray(groups, (size_t)n,
			    sizeof(*groups))) == NULL) {
				r = M2M_IPC_ERR_NO_MEMORY;
				goto out;
			}
			groups = ng;
			(void)getgrouplist(pwp->pw_name, gid, groups, &n);
			n = M2M_PEER_GROUPS_MAX;
			break;
		}
	}
	if (n < 1)
		goto out;
	*ret_groups = groups;
	groups = NULL;	/* transferred */
	*ret_n = (size_t)n;
	r = 0;
 out:
	free(groups);
	free(pwbuf);
	return r;
}

/* see peer.h */
int
m2m_peer_from_fd(int fd, struct m2m_peer **ret_peer)
{
	struct m2m_peer *peer = NULL;
	struct ucred uc;
	socklen_t len = sizeof(uc);
	int r = M2M_IPC_ERR_INTERNAL;

	if (fd < 0 || ret_peer == NULL)
		return M2M_IPC_ERR_INVALID_ARGUMENT;
	memset(&uc, 0, sizeof(uc));
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) == -1 ||
	    len != sizeof(uc) || uc.pid <= 0) {
		/* not AF_UNIX, not connected (pid 0), not a socket */
		r = M2M_IPC_ERR_NO_PEER;
		goto out;
	}
	if ((peer = calloc(1, sizeof(*peer))) == NULL) {
		r = M2M_IPC_ERR_NO_MEMORY;
		goto out;
	}
	peer->uid = uc.uid;
	peer->gid = uc.gid;
	peer->pid = uc.pid;
	if ((r = groups_of(uc.uid, uc.gid, &peer->groups,
	    &peer->ngroups)) != 0)
		goto out;
	*ret_peer = peer;
	peer = NULL;	/* transferred */
	r = 0;
 out:
	m2m_peer_free(peer);
	return r;
}

/* see peer.h */
void
m2m_peer_free(struct m2m_peer *peer)
{
	if (peer == NULL)
		return;
	free(peer->groups);
	free(peer);
}
