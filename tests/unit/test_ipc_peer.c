/*
 * Unit tests for daemon/common/peer.c: SO_PEERCRED and the uid's groups,
 * with a forked child that becomes another uid before it connects (the
 * tests run as root; without root the uid cases are skipped).
 */
#define _GNU_SOURCE
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "errors.h"
#include "peer.h"

/* A listening abstract AF_UNIX socket of this process; its address. */
static int
listener(struct sockaddr_un *sun, socklen_t *slen)
{
	int fd;

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	/* abstract: no file, no permission of a directory in the way */
	snprintf(sun->sun_path + 1, sizeof(sun->sun_path) - 1,
	    "m2m-test-ipc-peer-%ld", (long)getpid());
	*slen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
	    strlen(sun->sun_path + 1));
	assert_true((fd = socket(AF_UNIX, SOCK_STREAM, 0)) >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)sun, *slen), 0);
	assert_int_equal(listen(fd, 4), 0);
	return fd;
}

/*
 * A child that drops to uid/gid (no supplementary groups), connects and
 * waits for the parent to close; the peer the parent sees.
 */
static struct m2m_peer *
peer_of_child(uid_t uid, gid_t gid, pid_t *ret_pid)
{
	struct sockaddr_un sun;
	struct m2m_peer *peer = NULL;
	socklen_t slen;
	pid_t pid;
	char c;
	int lfd, fd, st;

	lfd = listener(&sun, &slen);
	assert_true((pid = fork()) >= 0);
	if (pid == 0) {
		close(lfd);
		if (setgroups(0, NULL) != 0 || setgid(gid) != 0 ||
		    setuid(uid) != 0 || getuid() != uid)
			_exit(2);
		if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0 ||
		    connect(fd, (struct sockaddr *)&sun, slen) != 0)
			_exit(3);
		/* until the parent closes */
		_exit(read(fd, &c, 1) >= 0 ? 0 : 4);
	}
	fd = accept(lfd, NULL, NULL);
	close(lfd);
	assert_true(fd >= 0);
	assert_int_equal(m2m_peer_from_fd(fd, &peer), 0);
	close(fd);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	*ret_pid = pid;
	return peer;
}

static int
has_group(const struct m2m_peer *peer, gid_t g)
{
	size_t i;

	for (i = 0; i < peer->ngroups; i++)
		if (peer->groups[i] == g)
			return 1;
	return 0;
}

/* nobody: uid, gid and pid of the child, its database groups. */
static void
test_child_other_uid(void **state)
{
	struct m2m_peer *peer;
	struct passwd *pw;
	pid_t pid;

	(void)state;
	if (geteuid() != 0 || (pw = getpwnam("nobody")) == NULL)
		skip();
	peer = peer_of_child(pw->pw_uid, pw->pw_gid, &pid);
	assert_int_equal(peer->uid, pw->pw_uid);
	assert_int_equal(peer->gid, pw->pw_gid);
	assert_int_equal(peer->pid, pid);
	assert_true(peer->ngroups >= 1);
	assert_int_equal(peer->groups[0], pw->pw_gid);
	assert_false(has_group(peer, 0));
	m2m_peer_free(peer);
}

/* A uid without a passwd entry: its SO_PEERCRED gid is its only group. */
static void
test_child_uid_without_entry(void **state)
{
	struct m2m_peer *peer;
	uid_t uid = 54321;
	pid_t pid;

	(void)state;
	while (getpwuid(uid) != NULL)
		uid++;
	if (geteuid() != 0)
		skip();
	peer = peer_of_child(uid, 54322, &pid);
	assert_int_equal(peer->uid, uid);
	assert_int_equal(peer->gid, 54322);
	assert_int_equal(peer->pid, pid);
	assert_int_equal(peer->ngroups, 1);
	assert_int_equal(peer->groups[0], 54322);
	m2m_peer_free(peer);
}

/*
 * A user with a supplementary group in the database: the child dropped
 * all its supplementary groups, the peer still has the database's.
 */
static void
test_child_supplementary_groups(void **state)
{
	struct m2m_peer *peer;
	struct passwd *pw;
	gid_t groups[64], extra = 0;
	pid_t pid;
	uid_t uid = 0;
	gid_t gid = 0;
	int n, i, found = 0, made;

	(void)state;
	if (geteuid() != 0)
		skip();
	/*
	 * A user of our own with a group of our own (removed after), so
	 * the test runs on any machine, not only where the package set
	 * happens to make one (it was skipped on a fresh Debian 12).
	 */
	made = system("groupadd -r m2m-test-sup 2>/dev/null; "
	    "useradd -r -M -N -g nogroup -G m2m-test-sup -s /usr/sbin/nologin "
	    "m2m-test-sup 2>/dev/null; id m2m-test-sup >/dev/null") == 0;
	setpwent();
	while (!found && (pw = getpwent()) != NULL) {
		n = 64;
		if (pw->pw_uid == 0 ||
		    getgrouplist(pw->pw_name, pw->pw_gid, groups, &n) == -1)
			continue;
		for (i = 0; i < n; i++) {
			if (groups[i] != pw->pw_gid) {
				uid = pw->pw_uid;
				gid = pw->pw_gid;
				extra = groups[i];
				found = 1;
				break;
			}
		}
	}
	endpwent();
	if (!found) {
		if (made && system("userdel m2m-test-sup; "
		    "groupdel m2m-test-sup") != 0)
			print_message("could not remove m2m-test-sup\n");
		fail_msg("no user with a supplementary group, and none could "
		    "be made (useradd)");
	}
	peer = peer_of_child(uid, gid, &pid);
	if (made && system("userdel m2m-test-sup; groupdel m2m-test-sup") != 0)
		print_message("could not remove m2m-test-sup\n");
	assert_int_equal(peer->uid, uid);
	assert_int_equal(peer->groups[0], gid);
	assert_true(peer->ngroups >= 2);
	assert_true(has_group(peer, extra));
	m2m_peer_free(peer);
}

/* A socketpair made by this process: our own credentials. */
static void
test_socketpair_self(void **state)
{
	struct m2m_peer *peer = NULL;
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(m2m_peer_from_fd(sv[0], &peer), 0);
	assert_int_equal(peer->uid, getuid());
	assert_int_equal(peer->gid, getgid());
	assert_int_equal(peer->pid, getpid());
	assert_int_equal(peer->groups[0], getgid());
	m2m_peer_free(peer);
	close(sv[0]);
	close(sv[1]);
}

/* No peer: a pipe, an unconnected socket, a bad fd. */
static void
test_no_peer(void **state)
{
	struct m2m_peer *peer = (struct m2m_peer *)(uintptr_t)0x5a5a;
	int p[2], s;

	(void)state;
	assert_int_equal(pipe(p), 0);
	assert_int_equal(m2m_peer_from_fd(p[0], &peer), M2M_IPC_ERR_NO_PEER);
	close(p[0]);
	close(p[1]);
	assert_true((s = socket(AF_UNIX, SOCK_STREAM, 0)) >= 0);
	assert_int_equal(m2m_peer_from_fd(s, &peer), M2M_IPC_ERR_NO_PEER);
	close(s);
	assert_int_equal(m2m_peer_from_fd(-1, &peer),
	    M2M_IPC_ERR_INVALID_ARGUMENT);
	assert_int_equal(m2m_peer_from_fd(0, NULL),
	    M2M_IPC_ERR_INVALID_ARGUMENT);
	/* untouched on failure */
	assert_ptr_equal(peer, (struct m2m_peer *)(uintptr_t)0x5a5a);
	m2m_peer_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_child_other_uid),
		cmocka_unit_test(test_child_uid_without_entry),
		cmocka_unit_test(test_child_supplementary_groups),
		cmocka_unit_test(test_socketpair_self),
		cmocka_unit_test(test_no_peer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
