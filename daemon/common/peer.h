/*
 * daemon/common: who is at the other end of a connected Unix socket.
 */
#ifndef M2M_DCOMMON_PEER_H
#define M2M_DCOMMON_PEER_H

#include <sys/types.h>

#include <stddef.h>

/* Most supplementary groups kept for one peer. */
#define M2M_PEER_GROUPS_MAX	1024

struct m2m_peer {
	uid_t	 uid;		/* SO_PEERCRED, as of connect() */
	gid_t	 gid;
	pid_t	 pid;
	gid_t	*groups;	/* the uid's groups, gid first */
	size_t	 ngroups;	/* >= 1 */
};

/*
 * The credentials of the peer of the connected AF_UNIX stream socket fd
 * (SO_PEERCRED: uid, gid and pid when it connected) and the groups of that
 * uid in the group database (getgrouplist(3) of its passwd entry, its
 * SO_PEERCRED gid first; only that gid if the uid has no passwd entry).
 * Group rules of the caller ACL match on these groups: the database's,
 * not the ones the process holds.  *ret_peer on success, freed with
 * m2m_peer_free().  M2M_IPC_ERR_INVALID_ARGUMENT, M2M_IPC_ERR_NO_PEER
 * (not a socket, not connected, or a pid of 0: a peer in a PID namespace
 * this process cannot see), M2M_IPC_ERR_NO_MEMORY.
 */
int m2m_peer_from_fd(int fd, struct m2m_peer **ret_peer);

/* Frees peer; NULL is fine. */
void m2m_peer_free(struct m2m_peer *peer);

#endif /* M2M_DCOMMON_PEER_H */
