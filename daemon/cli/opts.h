/*
 * m2mtoken (the command): its input side, shared by m2mtoken.c and opts.c:
 * exit codes, usage errors, hex and data input, and the option tables each
 * command states its options in once.
 */
#ifndef M2M_CLI_OPTS_H
#define M2M_CLI_OPTS_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#define EX_OK		0
#define EX_REFUSED	1
#define EX_USAGE	2
#define EX_UNREACHABLE	3
#define EX_DENIED	4
#define EX_VERIFY	5
#define EX_NOKEY	6
#define EX_MEF		7
#define EX_TOKEN	8
#define EX_NOTCONF	9

#define DATA_MAX	32768

/* A command: its name, method, parameter builder, output and usage text. */
struct cmd {
	const char	*name;
	const char	*method;
	int		(*build)(int, char **, struct json_object *);
	int		(*show)(struct json_object *);	/* -1: malformed */
	const char	*usage;
};

/*
 * One option of a command's table.  An option the table lists but cmd is
 * not in only ("a b": space-separated names; NULL: every command of the
 * table) is an unknown option, as is one the table lacks.  Its argument
 * goes into the string member key, or to fn, or (neither) into val[i].
 */
struct cli_opt {
	const char	*name;		/* --name */
	int		 has_arg;	/* no_argument, required_argument */
	const char	*only;		/* the commands taking it, or NULL */
	const char	*key;		/* JSON string member, or NULL */
	void		(*fn)(const char *cmd, const char *arg,
			    struct json_object *p);
};

/* "m2mtoken CMD: MSG (see m2mtoken CMD --help)" on stderr; exit EX_USAGE. */
void	die_usage(const char *cmd, const char *msg)
	    __attribute__((noreturn));
/* c's usage line on stdout; exit EX_OK. */
void	cmd_help(const struct cmd *c) __attribute__((noreturn));
/* The hex string s into out[cap]: 0 and *ret_len, or -1 if not hex of it. */
int	unhex(const char *s, uint8_t *out, size_t cap, size_t *ret_len);
/* v[n] in base64 as member k of p; exit EX_REFUSED without memory. */
void	put_b64(struct json_object *p, const char *k, const uint8_t *v,
	    size_t n);
/*
 * Exactly one of --data TEXT, --data-hex HEX, --data-file PATH ("-":
 * stdin) into buf[DATA_MAX + 1]: 0 and *ret_len; a usage error exits.
 */
int	read_data(const char *cmd, const char *text, const char *hex,
	    const char *file, uint8_t *buf, size_t *ret_len);
/*
 * getopt_long over argv with o[0..n) and --help (-h: c's usage, exit 0),
 * from optind on; each option is applied as its row says, in order, and
 * any other is "unknown option" (exit EX_USAGE).  val[n] (NULL if no row
 * leaves its argument there) gets the last argument of each such row.
 * 0 if no operand is left, else -1.
 */
int	cli_getopts(const struct cmd *c, int argc, char **argv,
	    const struct cli_opt *o, size_t n, struct json_object *p,
	    const char **val);

#endif /* M2M_CLI_OPTS_H */
