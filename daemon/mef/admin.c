/*
 * m2m-mef: enrolee and target administration (admin.h).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "admin.h"
#include "log.h"
#include "p11.h"
#include "parse.h"
#include "registry.h"
#include "server.h"

#define KEY_MIN		16
#define KEY_MAX		62	/* the most the module takes for a PSK role
				   (docs/profile.md): its premaster must fit
				   a backend's HMAC key */
#define KEY_FILE_MAX	1024

/*
 * Open the key file path for read_key: the file itself, not a symbolic
 * link to it (O_NOFOLLOW), and a regular file, not a FIFO, device or
 * directory (O_NONBLOCK, so that opening a FIFO does not wait for a
 * writer), owned by root or this process's user, with one name (no hard
 * link) and writable by nobody else; a warning when group or others may
 * read it.  A descriptor, or
 * -1 with the message written.
 */
static int
open_key_file(const char *path)
{
	struct stat st;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK |
	    O_NOCTTY)) == -1) {
		if (errno == ELOOP)
			fprintf(stderr, "m2m-mef: %s: a symbolic link: name "
			    "the key file itself\n", path);
		else
			fprintf(stderr, "m2m-mef: %s: %s\n", path,
			    strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1) {
		fprintf(stderr, "m2m-mef: %s: %s\n", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		fprintf(stderr, "m2m-mef: %s: not a regular file (%s): name "
		    "the key file, or give the key on standard input as -\n",
		    path, S_ISFIFO(st.st_mode) ? "a FIFO" :
		    S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device" :
		    S_ISDIR(st.st_mode) ? "a directory" : "a special file");
		close(fd);
		return -1;
	}
	/*
	 * Whoever owns the file, or may write it, may have chosen the key or
	 * may change it before the next import: only root or the importing
	 * user, and nobody else with write access.
	 */
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		fprintf(stderr, "m2m-mef: %s: owned by uid %lu, neither root "
		    "nor you (uid %lu), who may know or have changed the key: "
		    "copy it into a file of yours (install -m 600), or give it "
		    "on standard input as -\n", path,
		    (unsigned long)st.st_uid, (unsigned long)geteuid());
		close(fd);
		return -1;
	}
	/*
	 * A second name for the file: someone who may write the directory
	 * could have linked a file there whose content they know (another
	 * user's, or a world-readable one root owns).
	 */
	if (st.st_nlink != 1) {
		fprintf(stderr, "m2m-mef: %s: %lu names (hard links) for this "
		    "file, so it may not be the key file you made: copy the key "
		    "into a new file (install -m 600), or give it on standard "
		    "input as -\n", path, (unsigned long)st.st_nlink);
		close(fd);
		return -1;
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		fprintf(stderr, "m2m-mef: %s: mode %04o lets group or others "
		    "write the key, so it may not be the one you mean: chmod "
		    "600, check the key, and add again\n", path,
		    (unsigned int)(st.st_mode & 07777));
		close(fd);
		return -1;
	}
	if ((st.st_mode & (S_IRGRP | S_IROTH)) != 0)
		fprintf(stderr, "m2m-mef: warning: %s: mode %04o lets group "
		    "or others read the key (chmod 600, and delete the file "
		    "once the key is imported)\n", path,
		    (unsigned int)(st.st_mode & 07777));
	return fd;
}

/*
 * Read a key from path ("-": standard input; else open_key_file).  Input
 * whose bytes before any trailing white space are all hex digits is hex:
 * an even number of them, KEY_MIN to KEY_MAX bytes once decoded, else
 * refused (never taken as raw bytes).  Other input is the raw key, every
 * byte of it, KEY_MIN to KEY_MAX bytes.  out (KEY_MAX bytes) is secret:
 * the caller wipes it.  Length or < 0; no message names a byte of the key.
 */
static int
read_key(const char *path, uint8_t out[KEY_MAX])
{
	char buf[KEY_FILE_MAX + 1];
	size_t len = 0, i, hexlen;
	ssize_t n;
	int fd = -1, r = -1, allhex = 1;

	if (strcmp(path, "-") == 0)
		fd = STDIN_FILENO;
	else if ((fd = open_key_file(path)) == -1)
		goto out;
	while (len < sizeof(buf)) {
		n = read(fd, buf + len, sizeof(buf) - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "m2m-mef: %s: %s\n", path,
			    strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > KEY_FILE_MAX) {
		fprintf(stderr, "m2m-mef: %s: longer than a key file can be "
		    "(%d bytes)\n", path, KEY_FILE_MAX);
		goto out;
	}
	hexlen = len;
	while (hexlen > 0 && isspace((unsigned char)buf[hexlen - 1]))
		hexlen--;
	for (i = 0; i < hexlen; i++)
		if (!isxdigit((unsigned char)buf[i]))
			allhex = 0;
	if (hexlen == 0) {
		fprintf(stderr, "m2m-mef: %s: empty (or only white space): a "
		    "key is %d to %d hex digits, or %d to %d raw bytes\n", path,
		    2 * KEY_MIN, 2 * KEY_MAX, KEY_MIN, KEY_MAX);
	} else if (allhex && hexlen % 2 != 0) {
		fprintf(stderr, "m2m-mef: %s: an odd number of hex digits "
		    "(%zu): a key in hex is %d to %d digits (%d to %d bytes)\n",
		    path, hexlen, 2 * KEY_MIN, 2 * KEY_MAX, KEY_MIN, KEY_MAX);
	} else if (allhex && (hexlen / 2 < KEY_MIN || hexlen / 2 > KEY_MAX)) {
		fprintf(stderr, "m2m-mef: %s: %zu hex digits decode to %zu "
		    "bytes: a key is %d to %d bytes (%d to %d hex digits)\n",
		    path, hexlen, hexlen / 2, KEY_MIN, KEY_MAX, 2 * KEY_MIN,
		    2 * KEY_MAX);
	} else if (allhex) {
		if ((r = mef_hex_decode(buf, hexlen, out, KEY_MAX)) < 0)
			fprintf(stderr, "m2m-mef: %s: cannot decode the hex\n",
			    path);
	} else if (len < KEY_MIN || len > KEY_MAX) {
		fprintf(stderr, "m2m-mef: %s: %zu bytes, not all hex digits: a "
		    "key is %d to %d bytes, raw or as %d to %d hex digits and "
		    "nothing else (white space only at the end)\n", path, len,
		    KEY_MIN, KEY_MAX, 2 * KEY_MIN, 2 * KEY_MAX);
	} else {
		memcpy(out, buf, len);
		r = (int)len;
	}
 out:
	OPENSSL_cleanse(buf, sizeof(buf));
	if (fd > STDIN_FILENO)
		close(fd);
	return r;
}

/* The key file's rule (read_key), for the usage: four %d. */
#define KEY_RULE	"           (a key: %d to %d hex digits, white space " \
	"only at the end;\n           anything else: %d to %d raw bytes, " \
	"every byte)\n"

static int
usage_enrolee_to(FILE *fp)
{
	fprintf(fp,
	    "usage: m2m-mef [-c CONF] enrolee add --kpm-id ID --enrolee-id ID\n"
	    "           --target T [--target T2 ...] --lifetime SECONDS\n"
	    "           [--e2e-hash sha256|sha512] [--e2e-salt-hex HEX]\n"
	    "           --kpm-file PATH|-\n"
	    KEY_RULE
	    "       m2m-mef [-c CONF] enrolee add --cert-id ID --enrolee-id ID\n"
	    "           --target T [--target T2 ...] --lifetime SECONDS\n"
	    "           [--e2e-hash sha256|sha512] [--e2e-salt-hex HEX]\n"
	    "       m2m-mef [-c CONF] enrolee remove --kpm-id ID|--cert-id ID\n"
	    "       m2m-mef [-c CONF] enrolee list\n",
	    2 * KEY_MIN, 2 * KEY_MAX, KEY_MIN, KEY_MAX);
	return 2;
}

static int
usage_enrolee(void)
{
	return usage_enrolee_to(stderr);
}

static int
usage_target_to(FILE *fp)
{
	fprintf(fp,
	    "usage: m2m-mef [-c CONF] target add --id TARGET "
	    "--psk-file PATH|-\n"
	    KEY_RULE
	    "       m2m-mef [-c CONF] target remove --id TARGET\n"
	    "       m2m-mef [-c CONF] target list\n",
	    2 * KEY_MIN, 2 * KEY_MAX, KEY_MIN, KEY_MAX);
	return 2;
}

static int
usage_target(void)
{
	return usage_target_to(stderr);
}

static int
usage_ke_to(FILE *fp)
{
	fprintf(fp,
	    "usage: m2m-mef [-c CONF] ke list\n"
	    "       m2m-mef [-c CONF] ke purge    (KeIds past their lifetime: "
	    "rows, then Ke objects)\n");
	return 2;
}

/* see admin.h */
int
mef_cmd_help(const char *cmd)
{
	if (strcmp(cmd, "enrolee") == 0)
		usage_enrolee_to(stdout);
	else if (strcmp(cmd, "target") == 0)
		usage_target_to(stdout);
	else if (strcmp(cmd, "ke") == 0)
		usage_ke_to(stdout);
	else
		return 2;
	return 0;
}

static int
id_arg(const char *what, const char *v, char *out)
{
	size_t n = strlen(v);

	if (!mef_id_valid(v, n)) {
		fprintf(stderr, "m2m-mef: %s must be 1 to %d bytes of UTF-8 "
		    "without control characters\n", what, MEF_ID_MAX);
		return 0;
	}
	memcpy(out, v, n + 1);
	return 1;
}

/*
 * 0 when no registry row names id, so that an add may go on; else say why
 * it stops (kinds: "an enrolee or a target", as the command puts it) and
 * 1.  Only "not found" is absent: after a lookup error import_key would
 * take the key of a row it did not see for a stale one and destroy it.
 */
static int
id_taken(struct mef_registry *reg, const char *id, const char *kinds)
{
	struct mef_enrolee e;
	int r;

	if ((r = mef_reg_enrolee_get(reg, id, &e)) == MEF_ERR_NOTFOUND &&
	    (r = mef_reg_target_get(reg, id)) == MEF_ERR_NOTFOUND)
		return 0;
	if (r == 0)
		fprintf(stderr, "m2m-mef: %s is already %s: remove it "
		    "first\n", id, kinds);
	else
		fprintf(stderr, "m2m-mef: cannot tell whether %s is %s: "
		    "registry: %s (the line above says why); nothing changed: "
		    "fix the registry, or remove %s first\n", id, kinds,
		    mef_strerror(r), id);
	return 1;
}

/*
 * Import key[0..len): a stale one of the same label and role goes first.
 * Only under admin_lock(), after id_taken() found no row: then a key of
 * that label is one an add or remove cut short left, never the key of an
 * add running beside this one.
 */
static int
import_key(struct mef_tok *tok, const char *label, const uint8_t *key,
    size_t len)
{
	int r;

	if ((r = mef_tok_destroy(tok, label, CK_M2M_ROLE_KPM)) > 0)
		fprintf(stderr, "m2m-mef: replaced a key labelled %s that no "
		    "registry row named (an add cut short)\n", label);
	return r < 0 ? r : mef_tok_import(tok, label, CK_M2M_ROLE_KPM, key,
	    len, NULL, NULL);
}

#define LOCK_WAIT_MS	30000

/*
 * The lock of the enrolee and target commands that write: an exclusive
 * flock on "<registry>.lock", held until the descriptor it returns is
 * closed (or the process ends, a crash too).  An add checks the registry,
 * imports the key and inserts the row, and a remove deletes rows and
 * destroys keys, each as several transactions and token calls: two of
 * them on one ID at once could each take the other's key for a stale one
 * and destroy it, leaving a row without its key.  One at a time, they
 * cannot.  The server takes no part: it never writes a Kpm.  Waits up to
 * LOCK_WAIT_MS; the descriptor, or -1 with the message written.
 */
static int
admin_lock(const struct mef_conf *c)
{
	struct timespec ts = { 0, 50 * 1000 * 1000 };
	char path[4096];
	int fd, i, n;

	n = snprintf(path, sizeof(path), "%s.lock", c->registry);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		fprintf(stderr, "m2m-mef: the registry path is too long\n");
		return -1;
	}
	if ((fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW |
	    O_NOCTTY, 0644)) == -1) {
		fprintf(stderr, "m2m-mef: %s: %s\n", path, strerror(errno));
		return -1;
	}
	/*
	 * Read access is all flock needs: readable by all (it is empty,
	 * umask 077 made it 0600), so that a file root made first does not
	 * lock the MEF's user out of the commands.  Not ours: left as it is.
	 */
	(void)fchmod(fd, 0644);
	for (i = 0; i < LOCK_WAIT_MS / 50; i++) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return fd;
		if (errno != EWOULDBLOCK && errno != EINTR)
			break;
		nanosleep(&ts, NULL);
	}
	if (errno == EWOULDBLOCK)
		fprintf(stderr, "m2m-mef: %s: another m2m-mef enrolee or target "
		    "command has held it for %d s; nothing changed: try again "
		    "once it ends\n", path, LOCK_WAIT_MS / 1000);
	else
		fprintf(stderr, "m2m-mef: %s: flock: %s\n", path,
		    strerror(errno));
	close(fd);
	return -1;
}

static void
admin_unlock(int fd)
{
	if (fd != -1)
		close(fd);
}

static int
enrolee_add(const struct mef_conf *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "kpm-id", required_argument, NULL, 'k' },
		{ "enrolee-id", required_argument, NULL, 'e' },
		{ "target", required_argument, NULL, 't' },
		{ "lifetime", required_argument, NULL, 'l' },
		{ "e2e-hash", required_argument, NULL, 'h' },
		{ "e2e-salt-hex", required_argument, NULL, 's' },
		{ "kpm-file", required_argument, NULL, 'f' },
		{ "cert-id", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 }
	};
	struct mef_enrolee e;
	struct mef_registry *reg = NULL;
	struct mef_tok *tok = NULL;
	const char *keyfile = NULL;
	uint8_t key[KEY_MAX];
	char *end;
	size_t j;
	int o, r, n, rc = 1, imported = 0, lock = -1, keylen = 0;

	memset(&e, 0, sizeof(e));
	e.e2e_hash = MEF_HASH_SHA256;
	optind = 1;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'k':
			if (!id_arg("--kpm-id", optarg, e.kpm_id))
				return 2;
			break;
		case 'e':
			if (!id_arg("--enrolee-id", optarg, e.enrolee_id))
				return 2;
			break;
		case 't':
			if (e.targets.n == MEF_TARGETS_MAX) {
				fprintf(stderr, "m2m-mef: at most %d "
				    "--target\n", MEF_TARGETS_MAX);
				return 2;
			}
			if (!id_arg("--target", optarg,
			    e.targets.id[e.targets.n]))
				return 2;
			for (j = 0; j < e.targets.n; j++)
				if (strcmp(e.targets.id[j], optarg) == 0)
					break;
			if (j == e.targets.n)
				e.targets.n++;
			break;
		case 'l':
			errno = 0;
			e.lifetime = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || e.lifetime < 1 ||
			    e.lifetime > MEF_LIFETIME_MAX) {
				fprintf(stderr, "m2m-mef: --lifetime is a "
				    "number of seconds, 1 to %ld\n",
				    MEF_LIFETIME_MAX);
				return 2;
			}
			break;
		case 'h':
			if (strcmp(optarg, "sha256") == 0)
				e.e2e_hash = MEF_HASH_SHA256;
			else if (strcmp(optarg, "sha512") == 0)
				e.e2e_hash = MEF_HASH_SHA512;
			else {
				fprintf(stderr, "m2m-mef: --e2e-hash is "
				    "sha256 or sha512\n");
				return 2;
			}
			break;
		case 's':
			if ((n = mef_hex_decode(optarg, strlen(optarg),
			    e.salt, MEF_SALT_MAX)) < 0) {
				fprintf(stderr, "m2m-mef: --e2e-salt-hex is 1 "
				    "to %d bytes in hex\n", MEF_SALT_MAX);
				return 2;
			}
			e.salt_len = (size_t)n;
			break;
		case 'f':
			keyfile = optarg;
			break;
		case 'c':
			if (e.kpm_id[0] != '\0' ||
			    !id_arg("--cert-id", optarg, e.kpm_id))
				return usage_enrolee();
			e.cert = 1;
			break;
		default:
			return usage_enrolee();
		}
	}
	/* a certificate enrolee has no Kpm: --cert-id, no --kpm-file */
	if (optind != argc || e.kpm_id[0] == '\0' ||
	    e.enrolee_id[0] == '\0' || e.targets.n == 0 || e.lifetime == 0 ||
	    (keyfile == NULL) != (e.cert != 0))
		return usage_enrolee();
	/* the key before the lock: a wait for standard input holds nothing */
	if (!e.cert && (keylen = read_key(keyfile, key)) < 0)
		goto out;
	if ((lock = admin_lock(c)) == -1)
		goto out;
	if ((r = mef_reg_open(c->registry, &reg)) != 0)
		goto out;
	if (id_taken(reg, e.kpm_id, "an enrolee or a target"))
		goto out;
	if (!e.cert) {
		if ((r = mef_open_token(c, &tok, NULL)) != 0)
			goto out;
		if ((r = import_key(tok, e.kpm_id, key, (size_t)keylen)) != 0)
			goto out;
		imported = 1;
	}
	if ((r = mef_reg_enrolee_add(reg, &e)) != 0) {
		fprintf(stderr, "m2m-mef: registry: %s\n", mef_strerror(r));
		goto out;
	}
	imported = 0;	/* kept */
	mef_log_decision("enrolee-add", e.kpm_id, "admin", "ok", NULL, NULL);
	printf("enrolee %s added (EnroleeID %s)\n", e.kpm_id, e.enrolee_id);
	rc = 0;
 out:
	if (imported && mef_tok_destroy(tok, e.kpm_id, CK_M2M_ROLE_KPM) < 0)
		fprintf(stderr, "m2m-mef: the Kpm %s stays in the token "
		    "without a row: run enrolee remove --kpm-id %s\n",
		    e.kpm_id, e.kpm_id);
	if (rc != 0)
		mef_log_decision("enrolee-add", e.kpm_id, "admin", "error",
		    NULL, NULL);
	OPENSSL_cleanse(key, sizeof(key));
	mef_tok_close(tok);
	mef_reg_close(reg);
	admin_unlock(lock);
	return rc;
}

struct kelist {
	size_t	n, cap;
	char	(*id)[MEF_KEID_MAX + 1];
};

static int
collect_keid(const char *ke_id, void *arg)
{
	struct kelist *l = arg;
	void *p;

	if (strlen(ke_id) >= sizeof(l->id[0]))
		return MEF_ERR_INTERNAL;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		if ((p = realloc(l->id, l->cap * sizeof(*l->id))) == NULL)
			return MEF_ERR_NOMEM;
		l->id = p;
	}
	memcpy(l->id[l->n++], ke_id, strlen(ke_id) + 1);
	return 0;
}

static int
collect_ke(const struct mef_ke *ke, void *arg)
{
	return collect_keid(ke->ke_id, arg);
}

static int
enrolee_remove(const struct mef_conf *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "kpm-id", required_argument, NULL, 'k' },
		{ "cert-id", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 }
	};
	struct mef_registry *reg = NULL;
	struct mef_tok *tok = NULL;
	struct kelist l = { 0, 0, NULL };
	char kpm_id[MEF_ID_MAX + 1] = "";
	size_t i;
	int o, r = 0, rc = 1, had_row, keys = 0, lock = -1;

	optind = 1;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if ((o != 'k' && o != 'c') || kpm_id[0] != '\0' ||
		    !id_arg(o == 'k' ? "--kpm-id" : "--cert-id", optarg,
		    kpm_id))
			return usage_enrolee();
	}
	if (optind != argc || kpm_id[0] == '\0')
		return usage_enrolee();
	if ((lock = admin_lock(c)) == -1)
		goto out;
	if ((r = mef_reg_open(c->registry, &reg)) != 0)
		goto out;
	/*
	 * The rows first (one transaction, which also lists the KeIds it
	 * deletes, so that a bootstrap's Ke cannot slip between the list and
	 * the delete), then the keys: the Kpm only when that transaction
	 * deleted the enrolee's row or found no row naming the ID (a key an
	 * add or remove cut short left), never a target's.
	 */
	r = mef_reg_enrolee_remove(reg, kpm_id, collect_keid, &l);
	if (r != 0)
		l.n = 0;	/* no row went */
	if (r == MEF_ERR_KIND) {
		fprintf(stderr, "m2m-mef: %s is a target, not an enrolee (use "
		    "m2m-mef target remove --id %s); nothing changed\n",
		    kpm_id, kpm_id);
		r = 0;	/* said */
		goto out;
	}
	if (r != 0 && r != MEF_ERR_NOTFOUND)
		goto out;
	had_row = r == 0;
	if ((r = mef_open_token(c, &tok, NULL)) != 0)
		goto out;
	if ((r = mef_tok_destroy(tok, kpm_id, CK_M2M_ROLE_KPM)) < 0)
		goto out;
	keys += r;
	for (i = 0; i < l.n; i++) {
		if ((r = mef_tok_destroy(tok, l.id[i], CK_M2M_ROLE_KE)) < 0)
			goto out;
		keys += r;
	}
	if (!had_row && keys == 0) {
		fprintf(stderr, "m2m-mef: no enrolee %s\n", kpm_id);
		goto out;
	}
	mef_log_decision("enrolee-remove", kpm_id, "admin", "ok", NULL, NULL);
	printf("enrolee %s removed (%zu KeId(s), %d key(s))\n", kpm_id, l.n,
	    keys);
	rc = 0;
 out:
	if (rc != 0 && r < 0)
		fprintf(stderr, "m2m-mef: enrolee remove %s: %s (run it "
		    "again to finish)\n", kpm_id, mef_strerror(r));
	free(l.id);
	mef_tok_close(tok);
	mef_reg_close(reg);
	admin_unlock(lock);
	return rc;
}

static int
print_enrolee(const struct mef_enrolee *e, void *arg)
{
	size_t i;

	(void)arg;
	printf("%s\tEnroleeID=%s\tlifetime=%ld\thash=%s\tsalt=", e->kpm_id,
	    e->enrolee_id, e->lifetime,
	    e->e2e_hash == MEF_HASH_SHA512 ? "sha512" : "sha256");
	for (i = 0; i < e->salt_len; i++)
		printf("%02x", e->salt[i]);
	if (e->salt_len == 0)
		printf("-");
	printf("\ttargets=");
	for (i = 0; i < e->targets.n; i++)
		printf("%s%s", i ? "," : "", e->targets.id[i]);
	printf("%s\n", e->cert ? "\tframework=certificate" : "");
	return 0;
}

static int
print_target(const char *id, void *arg)
{
	(void)arg;
	printf("%s\n", id);
	return 0;
}

/* see admin.h */
int
mef_cmd_enrolee(const struct mef_conf *c, int argc, char **argv)
{
	struct mef_registry *reg = NULL;
	int r;

	if (argc < 2)
		return usage_enrolee();
	if (strcmp(argv[1], "add") == 0)
		return enrolee_add(c, argc - 1, argv + 1);
	if (strcmp(argv[1], "remove") == 0)
		return enrolee_remove(c, argc - 1, argv + 1);
	if (strcmp(argv[1], "list") != 0 || argc != 2)
		return usage_enrolee();
	if ((r = mef_reg_open(c->registry, &reg)) == 0)
		r = mef_reg_enrolee_list(reg, print_enrolee, NULL);
	mef_reg_close(reg);
	return r == 0 ? 0 : 1;
}

static int
target_add(const struct mef_conf *c, const char *id, const char *pskfile)
{
	struct mef_registry *reg = NULL;
	struct mef_tok *tok = NULL;
	uint8_t key[KEY_MAX];
	int r, rc = 1, imported = 0, lock = -1, keylen;

	/* as enrolee_add: the key, then the lock, then the rest */
	if ((keylen = read_key(pskfile, key)) < 0)
		goto out;
	if ((lock = admin_lock(c)) == -1)
		goto out;
	if ((r = mef_reg_open(c->registry, &reg)) != 0)
		goto out;
	if (id_taken(reg, id, "a target or an enrolee"))
		goto out;
	if ((r = mef_open_token(c, &tok, NULL)) != 0)
		goto out;
	if ((r = import_key(tok, id, key, (size_t)keylen)) != 0)
		goto out;
	imported = 1;
	if ((r = mef_reg_target_add(reg, id)) != 0) {
		fprintf(stderr, "m2m-mef: registry: %s\n", mef_strerror(r));
		goto out;
	}
	imported = 0;
	mef_log_decision("target-add", id, "admin", "ok", NULL, NULL);
	printf("target %s added\n", id);
	rc = 0;
 out:
	if (imported && mef_tok_destroy(tok, id, CK_M2M_ROLE_KPM) < 0)
		fprintf(stderr, "m2m-mef: the PSK %s stays in the token "
		    "without a row: run target remove --id %s\n", id, id);
	OPENSSL_cleanse(key, sizeof(key));
	mef_tok_close(tok);
	mef_reg_close(reg);
	admin_unlock(lock);
	return rc;
}

static int
target_remove(const struct mef_conf *c, const char *id)
{
	struct mef_registry *reg = NULL;
	struct mef_tok *tok = NULL;
	int r = 0, rc = 1, had_row, lock = -1;

	if ((lock = admin_lock(c)) == -1)
		goto out;
	if ((r = mef_reg_open(c->registry, &reg)) != 0)
		goto out;
	/* as enrolee_remove: never an enrolee's Kpm */
	r = mef_reg_target_remove(reg, id);
	if (r == MEF_ERR_KIND) {
		fprintf(stderr, "m2m-mef: %s is an enrolee, not a target (use "
		    "m2m-mef enrolee remove --kpm-id %s); nothing changed\n",
		    id, id);
		r = 0;	/* said */
		goto out;
	}
	if (r != 0 && r != MEF_ERR_NOTFOUND)
		goto out;
	had_row = r == 0;
	if ((r = mef_open_token(c, &tok, NULL)) != 0)
		goto out;
	if ((r = mef_tok_destroy(tok, id, CK_M2M_ROLE_KPM)) < 0)
		goto out;
	if (!had_row && r == 0) {
		fprintf(stderr, "m2m-mef: no target %s\n", id);
		goto out;
	}
	mef_log_decision("target-remove", id, "admin", "ok", NULL, NULL);
	printf("target %s removed\n", id);
	rc = 0;
 out:
	if (rc != 0 && r < 0)
		fprintf(stderr, "m2m-mef: target remove %s: %s (run it again "
		    "to finish)\n", id, mef_strerror(r));
	mef_tok_close(tok);
	mef_reg_close(reg);
	admin_unlock(lock);
	return rc;
}

/* see admin.h */
int
mef_cmd_target(const struct mef_conf *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "id", required_argument, NULL, 'i' },
		{ "psk-file", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 }
	};
	struct mef_registry *reg = NULL;
	char id[MEF_ID_MAX + 1] = "";
	const char *pskfile = NULL;
	int o, r;

	if (argc < 2)
		return usage_target();
	if (strcmp(argv[1], "list") == 0) {
		if (argc != 2)
			return usage_target();
		if ((r = mef_reg_open(c->registry, &reg)) == 0)
			r = mef_reg_target_list(reg, print_target, NULL);
		mef_reg_close(reg);
		return r == 0 ? 0 : 1;
	}
	optind = 1;
	while ((o = getopt_long(argc - 1, argv + 1, "", opts, NULL)) != -1) {
		if (o == 'i') {
			if (!id_arg("--id", optarg, id))
				return 2;
		} else if (o == 'f')
			pskfile = optarg;
		else
			return usage_target();
	}
	if (optind != argc - 1 || id[0] == '\0')
		return usage_target();
	if (strcmp(argv[1], "add") == 0 && pskfile != NULL)
		return target_add(c, id, pskfile);
	if (strcmp(argv[1], "remove") == 0 && pskfile == NULL)
		return target_remove(c, id);
	return usage_target();
}

static int
print_ke(const struct mef_ke *ke, void *arg)
{
	char ts[MEF_TS_LEN + 1];
	size_t i;

	(void)arg;
	if (mef_timestamp(ke->expires, ts) != 0)
		snprintf(ts, sizeof(ts), "?");
	printf("%s\tKpmId=%s\tEnroleeID=%s\texpires=%s%s\ttargets=",
	    ke->ke_id, ke->kpm_id, ke->enrolee_id, ts,
	    time(NULL) >= ke->expires ? " (expired)" : "");
	for (i = 0; i < ke->targets.n; i++)
		printf("%s%s", i ? "," : "", ke->targets.id[i]);
	printf("\n");
	return 0;
}

static int
collect_expired(const struct mef_ke *ke, void *arg)
{
	if (time(NULL) < ke->expires)
		return 0;
	return collect_ke(ke, arg);
}

/* see admin.h */
int
mef_cmd_ke(const struct mef_conf *c, int argc, char **argv)
{
	struct mef_registry *reg = NULL;
	struct mef_tok *tok = NULL;
	struct kelist l = { 0, 0, NULL };
	size_t i;
	int r, rc = 1, keys = 0;

	if (argc != 2 || (strcmp(argv[1], "list") != 0 &&
	    strcmp(argv[1], "purge") != 0))
		return usage_ke_to(stderr);
	if ((r = mef_reg_open(c->registry, &reg)) != 0)
		goto out;
	if (strcmp(argv[1], "list") == 0) {
		if ((r = mef_reg_ke_list(reg, NULL, print_ke, NULL)) == 0)
			rc = 0;
		goto out;
	}
	if ((r = mef_reg_ke_list(reg, NULL, collect_expired, &l)) != 0)
		goto out;
	if (l.n > 0 && (r = mef_open_token(c, &tok, NULL)) != 0)
		goto out;
	/* per KeId: the row first, then the key (admin.h) */
	for (i = 0; i < l.n; i++) {
		r = mef_reg_ke_remove(reg, l.id[i]);
		if (r != 0 && r != MEF_ERR_NOTFOUND)
			goto out;
		if ((r = mef_tok_destroy(tok, l.id[i], CK_M2M_ROLE_KE)) < 0)
			goto out;
		keys += r;
		mef_log_decision("ke-purge", l.id[i], "admin", "ok", NULL,
		    NULL);
	}
	printf("%zu expired KeId(s) purged, %d Ke object(s) destroyed\n",
	    l.n, keys);
	r = 0;
	rc = 0;
 out:
	if (rc != 0 && r < 0)
		fprintf(stderr, "m2m-mef: ke %s: %s\n", argv[1],
		    mef_strerror(r));
	free(l.id);
	mef_tok_close(tok);
	mef_reg_close(reg);
	return rc;
}
