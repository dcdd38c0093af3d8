/*
 * m2m-mef: the MEF server and its administration (docs/operations.md).
 *
 *   m2m-mef [-c CONF] [serve]             run the server in the foreground
 *   m2m-mef [-c CONF] enrolee add|remove|list ...
 *   m2m-mef [-c CONF] target add|remove|list ...
 *   m2m-mef [-c CONF] ke list|purge
 *   m2m-mef COMMAND --help
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "admin.h"
#include "conf.h"
#include "log.h"
#include "server.h"

static int
usage_to(FILE *fp)
{
	fprintf(fp,
	    "usage: m2m-mef [-c CONF] [serve]\n"
	    "       m2m-mef [-c CONF] enrolee add|remove|list ...\n"
	    "       m2m-mef [-c CONF] target add|remove|list ...\n"
	    "       m2m-mef [-c CONF] ke list|purge\n"
	    "CONF defaults to " MEF_CONF_DEFAULT "; COMMAND --help shows a "
	    "command's options.\n");
	return 2;
}

static int
usage(void)
{
	return usage_to(stderr);
}

/* No core dumps, no ptrace by other users, private files. */
static void
harden(void)
{
	struct rlimit rl = { 0, 0 };

	umask(077);
	setrlimit(RLIMIT_CORE, &rl);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	signal(SIGPIPE, SIG_IGN);
}

int
main(int argc, char **argv)
{
	struct mef_conf *c = NULL;
	const char *path = MEF_CONF_DEFAULT;
	int i = 1, j, rc = 1, r;

	harden();
	if (i < argc && (strcmp(argv[i], "-h") == 0 ||
	    strcmp(argv[i], "--help") == 0)) {
		usage_to(stdout);
		return 0;
	}
	if (i + 1 < argc && strcmp(argv[i], "-c") == 0) {
		path = argv[i + 1];
		i += 2;
	}
	if (i < argc && argv[i][0] == '-')
		return usage();
	for (j = i + 1; i < argc && j < argc; j++)
		if (strcmp(argv[j], "--help") == 0 ||
		    strcmp(argv[j], "-h") == 0)
			return mef_cmd_help(argv[i]) == 0 ? 0 : usage();
	/*
	 * serve: SIGHUP (systemctl reload) must not end the MEF while it
	 * starts (configuration, registry, token, Ke reconcile, TLS
	 * contexts) or stops: ignored from here on.  The event loop's
	 * handler (server.c, on_hup) takes it over while the loop runs, and
	 * libevent puts this disposition back when that event is freed.  A
	 * MEF killed by SIGHUP would not come back: systemd takes that death
	 * for a clean exit, and Restart=on-failure does not restart it.
	 * The administration commands keep the default: run from a shell,
	 * they end on a hang-up as on SIGINT or SIGTERM.
	 */
	if (i == argc || strcmp(argv[i], "serve") == 0)
		signal(SIGHUP, SIG_IGN);
	if (mef_conf_load(path, &c) != 0)
		return 1;
	if (i == argc || strcmp(argv[i], "serve") == 0) {
		if (i < argc && i + 1 != argc) {
			rc = usage();
			goto out;
		}
		r = mef_server_run(c);
		if (r != 0)
			mef_log("stopped: %s", mef_strerror(r));
		rc = r == 0 ? 0 : 1;
	} else if (strcmp(argv[i], "enrolee") == 0)
		rc = mef_cmd_enrolee(c, argc - i, argv + i);
	else if (strcmp(argv[i], "target") == 0)
		rc = mef_cmd_target(c, argc - i, argv + i);
	else if (strcmp(argv[i], "ke") == 0)
		rc = mef_cmd_ke(c, argc - i, argv + i);
	else
		rc = usage();
 out:
	mef_conf_free(c);
	return rc;
}
