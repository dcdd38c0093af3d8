/* m2mtoken (the command): usage errors, input, option tables.  See opts.h. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "opts.h"

#define OPTS_MAX	16	/* rows of the longest table */

/* see opts.h */
void
die_usage(const char *cmd, const char *msg)
{
	fprintf(stderr, "m2mtoken%s%s: %s (see m2mtoken %s%s--help)\n",
	    cmd ? " " : "", cmd ? cmd : "", msg, cmd ? cmd : "",
	    cmd ? " " : "");
	exit(EX_USAGE);
}

/* see opts.h */
void
cmd_help(const struct cmd *c)
{
	printf("usage: m2mtoken [global options] %s %s\n", c->name,
	    c->usage);
	exit(EX_OK);
}

/* see opts.h */
int
unhex(const char *s, uint8_t *out, size_t cap, size_t *ret_len)
{
	size_t n = strlen(s), i;
	unsigned int v;

	if (n % 2 != 0 || n / 2 > cap)
		return -1;
	for (i = 0; i < n / 2; i++) {
		if (sscanf(s + 2 * i, "%2x", &v) != 1 ||
		    !((s[2 * i] >= '0' && s[2 * i] <= '9') ||
		    (s[2 * i] | 0x20) >= 'a'))
			return -1;
		out[i] = (uint8_t)v;
	}
	*ret_len = n / 2;
	return 0;
}

/* see opts.h */
void
put_b64(struct json_object *p, const char *k, const uint8_t *v, size_t n)
{
	char *s = malloc((n + 2) / 3 * 4 + 1);

	if (s == NULL) {
		fprintf(stderr, "m2mtoken: out of memory\n");
		exit(EX_REFUSED);
	}
	EVP_EncodeBlock((unsigned char *)s, v, (int)n);
	json_object_object_add(p, k, json_object_new_string(s));
	/* it may be a plaintext (seal) */
	OPENSSL_cleanse(s, (n + 2) / 3 * 4 + 1);
	free(s);
}

/* see opts.h */
int
read_data(const char *cmd, const char *text, const char *hex,
    const char *file, uint8_t *buf, size_t *ret_len)
{
	size_t n = 0;
	ssize_t k;
	int fd;

	if ((text != NULL) + (hex != NULL) + (file != NULL) != 1)
		die_usage(cmd, "give exactly one of --data, --data-hex, "
		    "--data-file");
	if (text != NULL) {
		if (strlen(text) > DATA_MAX)
			die_usage(cmd, "--data: more than 32768 bytes");
		memcpy(buf, text, strlen(text));
		*ret_len = strlen(text);
		return 0;
	}
	if (hex != NULL) {
		if (unhex(hex, buf, DATA_MAX, ret_len) != 0)
			die_usage(cmd, "--data-hex: not hex of at most 32768 "
			    "bytes");
		return 0;
	}
	/* read(2) into buf, which the caller wipes: no copy in stdio's */
	if (strcmp(file, "-") == 0)
		fd = STDIN_FILENO;
	else if ((fd = open(file, O_RDONLY | O_CLOEXEC)) == -1) {
		fprintf(stderr, "m2mtoken %s: cannot open %s: %s\n", cmd, file,
		    strerror(errno));
		exit(EX_USAGE);
	}
	while (n <= DATA_MAX) {
		k = read(fd, buf + n, DATA_MAX + 1 - n);
		if (k == -1 && errno == EINTR)
			continue;
		if (k == -1) {
			fprintf(stderr, "m2mtoken %s: cannot read %s: %s\n",
			    cmd, file, strerror(errno));
			exit(EX_USAGE);
		}
		if (k == 0)
			break;
		n += (size_t)k;
	}
	if (fd != STDIN_FILENO)
		close(fd);
	if (n > DATA_MAX)
		die_usage(cmd, "--data-file: more than 32768 bytes");
	*ret_len = n;
	return 0;
}

/* 1 if the command name is one of the space-separated words of only. */
static int
takes(const char *only, const char *name)
{
	size_t len = strlen(name);
	const char *w;

	if (only == NULL)
		return 1;
	for (w = only; *w != '\0'; w += strcspn(w, " ")) {
		w += strspn(w, " ");
		if (strncmp(w, name, len) == 0 && (w[len] == ' ' ||
		    w[len] == '\0'))
			return 1;
	}
	return 0;
}

/* see opts.h */
int
cli_getopts(const struct cmd *c, int argc, char **argv,
    const struct cli_opt *o, size_t n, struct json_object *p,
    const char **val)
{
	struct option lo[OPTS_MAX + 2];
	size_t i;
	int ch;

	if (n > OPTS_MAX)
		die_usage(c->name, "too many options (internal)");
	for (i = 0; i < n; i++) {
		lo[i].name = o[i].name;
		lo[i].has_arg = o[i].has_arg;
		lo[i].flag = NULL;
		lo[i].val = 256 + (int)i;	/* no short option's letter */
	}
	lo[n] = (struct option){ "help", no_argument, NULL, 'h' };
	lo[n + 1] = (struct option){ NULL, 0, NULL, 0 };
	while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		if (ch == 'h')
			cmd_help(c);
		if (ch < 256 || (i = (size_t)(ch - 256)) >= n ||
		    !takes(o[i].only, c->name))
			die_usage(c->name, "unknown option");
		if (o[i].key != NULL)
			json_object_object_add(p, o[i].key,
			    json_object_new_string(optarg));
		else if (o[i].fn != NULL)
			o[i].fn(c->name, optarg, p);
		else if (val != NULL)
			val[i] = optarg;
	}
	return optind == argc ? 0 : -1;
}
