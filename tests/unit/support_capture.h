/*
 * Test helper: capture what is written to stderr (the module's and the
 * store's log lines) between capture_start() and capture_end().  Include
 * after <cmocka.h>.
 */
#ifndef M2M_SUPPORT_CAPTURE_H
#define M2M_SUPPORT_CAPTURE_H

#include <stdio.h>
#include <unistd.h>

/* Start capturing stderr into a temporary file; returns it. */
static inline FILE *
capture_start(int *saved)
{
	FILE *tmp = tmpfile();

	assert_non_null(tmp);
	fflush(stderr);
	*saved = dup(STDERR_FILENO);
	assert_true(*saved >= 0);
	assert_true(dup2(fileno(tmp), STDERR_FILENO) >= 0);
	return tmp;
}

/* Stop capturing; what was written, NUL-terminated, into out. */
static inline void
capture_end(FILE *tmp, int saved, char *out, size_t outlen)
{
	size_t n;

	fflush(stderr);
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	rewind(tmp);
	n = fread(out, 1, outlen - 1, tmp);
	out[n] = '\0';
	fclose(tmp);
}

#endif
