/*
 * fuzz_conf: the INI configuration parser, m2m_conf_load() (token/conf.c:
 * the line reader, inih, section and key checks, numbers, the PIN spec).
 * The input is the file's text, read from a memfd.  Beyond memory and UB
 * errors it checks the contract of conf.h: a failure leaves a one-line
 * reason naming the file, without control bytes; a success gives a
 * complete conf.
 */
#define _GNU_SOURCE	/* memfd_create */
#include <sys/mman.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "err.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct m2m_conf *c = NULL;
	char path[64], err[512];
	size_t i, plen;
	int fd, r;

	if ((fd = memfd_create("fuzz_conf", MFD_CLOEXEC)) == -1)
		abort();
	if (size > 0 && write(fd, data, size) != (ssize_t)size)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	plen = strlen(path);
	memset(err, 'X', sizeof(err));
	r = m2m_conf_load(path, &c, err, sizeof(err));
	close(fd);
	if (r == 0) {
		if (c == NULL || c->store_path == NULL ||
		    (c->backend != M2M_BACKEND_HSM &&
		    c->backend != M2M_BACKEND_TPM) ||
		    c->pin_min > c->pin_max || c->cache_size == 0 ||
		    (c->backend == M2M_BACKEND_HSM && (c->hsm_module == NULL ||
		    c->hsm_token_label == NULL || c->hsm_pin == NULL)) ||
		    (c->backend == M2M_BACKEND_TPM && c->tpm_tcti == NULL))
			abort();
		m2m_conf_free(c);
		return 0;
	}
	if (r != M2M_ERR_CONFIG && r != M2M_ERR_NO_MEMORY)
		abort();
	/* "<path>: ...", one line without control bytes */
	if (strncmp(err, path, plen) != 0 || err[plen] != ':')
		abort();
	for (i = 0; err[i] != '\0'; i++)
		if (i == sizeof(err) - 1 || (uint8_t)err[i] < 0x20 ||
		    err[i] == 0x7f)
			abort();
	return 0;
}
