/*
 * Unit test for the HSM backend's setup lock (m2m_hsm_setup_lock,
 * hsm/hsm_wrapkey.c) between processes: it must die with the process that
 * holds it, even when that process forked a child without exec that
 * lives on.  With flock(2) the child's copy of the open file description
 * kept it, so the next setup of every process of the user (an open of a
 * fresh token, the binding key) waited for the child to exit.
 */
#include <sys/wait.h>

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../hsm/hsm_int.h"

static char g_dir[] = "/tmp/m2m-hsmlock-XXXXXX";

static long
now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
test_setup_lock_dead_holder(void **state)
{
	struct hsm h;
	int pfd[2], n, st, fd;
	pid_t p, g = -1;
	long t0, ms;

	(void)state;
	memset(&h, 0, sizeof(h));
	assert_int_equal(pipe(pfd), 0);
	fflush(NULL);
	assert_true((p = fork()) != -1);
	if (p == 0) {
		if (m2m_hsm_setup_lock(&h) == -1)
			_exit(1);
		if ((g = fork()) == 0) {
			alarm(25);	/* lives on, then ends */
			for (;;)
				pause();
		}
		if (write(pfd[1], &g, sizeof(g)) != sizeof(g))
			_exit(1);
		_exit(0);	/* dies holding the lock */
	}
	close(pfd[1]);
	n = (int)read(pfd[0], &g, sizeof(g));
	close(pfd[0]);
	assert_int_equal(waitpid(p, &st, 0), p);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(n, (int)sizeof(g));
	assert_true(g > 0);

	t0 = now_ms();
	fd = m2m_hsm_setup_lock(&h);
	ms = now_ms() - t0;
	m2m_hsm_setup_unlock(fd);
	(void)kill(g, SIGKILL);	/* not our child: init reaps it */
	print_message("setup lock after the holder's death: %ld ms\n", ms);
	assert_true(fd != -1);
	assert_true(ms < 2000);
}

static int
group_setup(void **state)
{
	(void)state;
	if (mkdtemp(g_dir) == NULL)
		return -1;
	return setenv("XDG_RUNTIME_DIR", g_dir, 1);
}

static int
group_teardown(void **state)
{
	char path[sizeof(g_dir) + 32];

	(void)state;
	(void)snprintf(path, sizeof(path), "%s/m2mtoken-hsm.lock", g_dir);
	(void)unlink(path);
	(void)rmdir(g_dir);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_setup_lock_dead_holder),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
