/*
 * mtd_client: a C program over the public client API only
 * (<m2mtoken/client.h>), for test_m2mtokend.sh.
 *
 *   mtd_client SOCKET KEID TARGET E2EKEYID MICHEX
 *
 * Calls Status, DeriveKpsa, ProvisionEndToEnd, Mic (must equal MICHEX,
 * made over "hello oneM2M" by the CLI), VerifyMic (good and forged), Seal
 * and Open (and a tampered Open), a generic call, an unknown method.
 * Prints "ok:" lines; exits 1 on the first failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <m2mtoken/client.h>

#define FAIL(...) do { fprintf(stderr, "FAIL: " __VA_ARGS__);		\
	fprintf(stderr, " (%s %s %s)\n", err.name, err.reason, err.detail);\
	exit(1); } while (0)

int
main(int argc, char **argv)
{
	static const uint8_t msg[] = "hello oneM2M";
	struct m2m_client_error err;
	struct m2m_client *c = NULL;
	uint8_t mic[64], iv[12], *ct = NULL, *pt = NULL;
	size_t ml = 0, ctl = 0, ptl = 0, i;
	char *s = NULL, hex[129];
	int r;

	memset(&err, 0, sizeof(err));
	if (argc != 6)
		FAIL("usage");
	if ((r = m2m_client_connect(argv[1], 5000, &c)) != 0)
		FAIL("connect: %s", m2m_client_strerror(r));
	if ((r = m2m_client_status(c, &s, &err)) != 0 ||
	    strstr(s, "\"token\"") == NULL)
		FAIL("status: %d", r);
	free(s);
	if ((r = m2m_client_derive_kpsa(c, argv[2], argv[3], &s, &err)) != 0 ||
	    strcmp(s, argv[2]) != 0)
		FAIL("derive_kpsa: %d", r);
	free(s);
	if ((r = m2m_client_provision_e2e(c, argv[2], "kpsa", NULL, 0,
	    "sha256", &s, &err)) != 0 || strcmp(s, argv[4]) != 0)
		FAIL("provision_e2e: %d %s", r, s ? s : "");
	free(s);
	printf("ok: C client: status, derive_kpsa, provision_e2e (same "
	    "E2EKeyId)\n");
	if ((r = m2m_client_mic(c, argv[4], 0, msg, sizeof(msg) - 1, mic, &ml,
	    &err)) != 0 || ml != 32)
		FAIL("mic: %d", r);
	for (i = 0; i < ml; i++)
		snprintf(hex + 2 * i, 3, "%02x", mic[i]);
	if (strcmp(hex, argv[5]) != 0)
		FAIL("mic %s differs from the CLI's %s", hex, argv[5]);
	if ((r = m2m_client_verify_mic(c, argv[4], 0, msg, sizeof(msg) - 1,
	    mic, ml, &err)) != 0)
		FAIL("verify_mic: %d", r);
	mic[0] ^= 1;
	if ((r = m2m_client_verify_mic(c, argv[4], 0, msg, sizeof(msg) - 1,
	    mic, ml, &err)) != M2M_CLIENT_ERR_REMOTE ||
	    strcmp(err.name, "io.m2mtoken.VerificationFailed") != 0)
		FAIL("verify_mic of a forged MIC: %d", r);
	/* the attribute key is another key: another MIC */
	if ((r = m2m_client_mic(c, argv[4], 1, msg, sizeof(msg) - 1, mic, &ml,
	    &err)) != 0)
		FAIL("mic (attribute): %d", r);
	for (i = 0; i < ml; i++)
		snprintf(hex + 2 * i, 3, "%02x", mic[i]);
	if (strcmp(hex, argv[5]) == 0)
		FAIL("attribute and message MICs are equal");
	printf("ok: C client: mic equals the CLI's, verify_mic good and "
	    "forged, attribute key differs\n");
	if ((r = m2m_client_seal(c, argv[4], 0, (const uint8_t *)"h", 1, msg,
	    sizeof(msg) - 1, iv, &ct, &ctl, &err)) != 0 ||
	    ctl != sizeof(msg) - 1 + 16)
		FAIL("seal: %d", r);
	if ((r = m2m_client_open(c, argv[4], 0, (const uint8_t *)"h", 1, iv,
	    ct, ctl, &pt, &ptl, &err)) != 0 || ptl != sizeof(msg) - 1 ||
	    memcmp(pt, msg, ptl) != 0)
		FAIL("open: %d", r);
	free(pt);
	pt = NULL;
	if ((r = m2m_client_open(c, argv[4], 1, (const uint8_t *)"h", 1, iv,
	    ct, ctl, &pt, &ptl, &err)) != M2M_CLIENT_ERR_REMOTE ||
	    strcmp(err.name, "io.m2mtoken.VerificationFailed") != 0)
		FAIL("open with the attribute key: %d", r);
	free(ct);
	printf("ok: C client: seal/open, the other key's open fails\n");
	if ((r = m2m_client_call(c, "io.m2mtoken.ListKeys",
	    "{\"role\": \"e2e-msg-auth\"}", &s, &err)) != 0 ||
	    strstr(s, argv[4]) == NULL)
		FAIL("call ListKeys: %d", r);
	free(s);
	if ((r = m2m_client_call(c, "io.m2mtoken.Nope", NULL, NULL, &err)) !=
	    M2M_CLIENT_ERR_REMOTE ||
	    strcmp(err.name, "io.m2mtoken.MethodNotFound") != 0)
		FAIL("unknown method: %d", r);
	if ((r = m2m_client_call(c, "io.m2mtoken.Status", "[1]", NULL,
	    &err)) != M2M_CLIENT_ERR_ARG)
		FAIL("params not an object: %d", r);
	printf("ok: C client: generic call, MethodNotFound, bad params\n");
	m2m_client_close(c);
	return 0;
}
