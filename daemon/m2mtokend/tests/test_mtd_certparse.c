/*
 * Unit tests of the certificate methods' input checks
 * (daemon/m2mtokend/certparse.c): Csr's subjectAltName values.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "certparse.h"

static void
test_san_dns(void **state)
{
	static const char *const good[] = { "dev7.example.com", "localhost",
	    "a", "x-1.Example.COM", "xn--dv7-bma.example.com", "0.1a", NULL };
	static const char *const bad[] = { "", "x,dirName:s",
	    "dev7.example.com,URI:urn:x", "dev7 example.com",
	    "d\xc3\xa9v7.example.com", "*.example.com", "-a.example.com",
	    "a-.example.com", "a..b", ".a", "a.", "dev_7.example.com",
	    "a:b", "a/b", NULL };
	char s[MTD_SAN_DNS_MAX + 3];
	size_t i;

	(void)state;
	for (i = 0; good[i] != NULL; i++)
		if (mtd_san_dns_ok(good[i]) != 0)
			fail_msg("sanDns \"%s\" refused", good[i]);
	for (i = 0; bad[i] != NULL; i++)
		if (mtd_san_dns_ok(bad[i]) == 0)
			fail_msg("sanDns \"%s\" accepted", bad[i]);
	assert_int_not_equal(mtd_san_dns_ok(NULL), 0);
	/* a label of 63 bytes, not 64 */
	memset(s, 'a', 63);
	strcpy(s + 63, ".b");
	assert_int_equal(mtd_san_dns_ok(s), 0);
	memset(s, 'a', 64);
	strcpy(s + 64, ".b");
	assert_int_not_equal(mtd_san_dns_ok(s), 0);
	/* MTD_SAN_DNS_MAX bytes in all, not one more */
	for (i = 0; i < MTD_SAN_DNS_MAX; i++)
		s[i] = i % 2 == 0 ? 'a' : '.';
	s[MTD_SAN_DNS_MAX] = '\0';
	assert_int_equal(mtd_san_dns_ok(s), 0);
	strcpy(s + MTD_SAN_DNS_MAX, ".a");
	assert_int_not_equal(mtd_san_dns_ok(s), 0);
}

static void
test_san_uri(void **state)
{
	static const char *const good[] = { "urn:m2m:dev7",
	    "https://dev7.example.com:8443/a/b?c=d&e=f#g",
	    "urn:dev1%2CDNS:x", "mailto:a@example.com", "x:y",
	    "coap+tcp://[2001:db8::1]/~a!$'()*;=", NULL };
	static const char *const bad[] = { "", "urn:dev1,DNS:mef.example.com",
	    "urn:dev1,IP:10.0.0.1", "urn:dev 7", "urn:d\xc3\xa9v7", "dev7/x",
	    ":x", "1x:y", "urn:", "urn:a%2", "urn:a%G7", "urn:a\"b",
	    "urn:<a>", "urn:a\\b", "urn:a|b", "urn:a^b", "urn:a`b",
	    "urn:{a}", NULL };
	size_t i;

	(void)state;
	for (i = 0; good[i] != NULL; i++)
		if (mtd_san_uri_ok(good[i]) != 0)
			fail_msg("sanUri \"%s\" refused", good[i]);
	for (i = 0; bad[i] != NULL; i++)
		if (mtd_san_uri_ok(bad[i]) == 0)
			fail_msg("sanUri \"%s\" accepted", bad[i]);
	assert_int_not_equal(mtd_san_uri_ok(NULL), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_san_dns),
		cmocka_unit_test(test_san_uri),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
