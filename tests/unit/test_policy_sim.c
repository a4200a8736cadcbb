/*
 * lib/policy's SIM from ModemManager: what its fields may hold (an ICCID, an
 * IMSI, an MCC and MNC), which modem is the first, and the addresses taken;
 * what is refused before any connection. The read itself on a bus:
 * tests/integration/161-policy-sim.t. sim.c's checks are static (policy_int.h
 * declares what the module's files share, not a file's own parts): the file
 * is compiled in here, and libm2m.a's copy is then not linked.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/sim.c"

static void test_iccid(void **state)
{
	char s[256];

	(void)state;
	assert_null(sim_field_invalid(SIM_ICCID, ""));                     /* unknown */
	assert_null(sim_field_invalid(SIM_ICCID, "8988211000000123456"));  /* 19 digits */
	assert_null(sim_field_invalid(SIM_ICCID, "89882110000001234567")); /* 20 */
	assert_null(sim_field_invalid(SIM_ICCID, "8988211000000123456F")); /* BCD padding */
	assert_null(sim_field_invalid(SIM_ICCID, "8988211000000123456f"));
	assert_null(sim_field_invalid(SIM_ICCID, "8988211000000123456789")); /* 22: the field's room */
	assert_non_null(sim_field_invalid(SIM_ICCID, "89882110000001234567890")); /* 23 */
	assert_non_null(sim_field_invalid(SIM_ICCID, "F"));                   /* no digit */
	assert_non_null(sim_field_invalid(SIM_ICCID, "8988F21100"));          /* F inside */
	assert_non_null(sim_field_invalid(SIM_ICCID, "89882110000001234A"));
	assert_non_null(sim_field_invalid(SIM_ICCID, " 898821100000012345"));
	assert_non_null(sim_field_invalid(SIM_ICCID, "8988\x1b[31m"));
	assert_non_null(sim_field_invalid(SIM_ICCID, "8988\x7f"));
	assert_non_null(sim_field_invalid(SIM_ICCID, "8988\xc3\xa9")); /* UTF-8: not ASCII */
	memset(s, '8', 200);
	s[200] = 0;
	assert_string_equal(sim_field_invalid(SIM_ICCID, s), "longer than 22 characters");
	s[5] = '\n';
	assert_string_equal(sim_field_invalid(SIM_ICCID, s), "not printable ASCII");
}

static void test_imsi(void **state)
{
	(void)state;
	assert_null(sim_field_invalid(SIM_IMSI, ""));
	assert_null(sim_field_invalid(SIM_IMSI, "001010123456789")); /* 15: the most */
	assert_null(sim_field_invalid(SIM_IMSI, "23415123456789"));  /* 14 */
	assert_non_null(sim_field_invalid(SIM_IMSI, "0010101234567890"));
	assert_non_null(sim_field_invalid(SIM_IMSI, "00101012345678F"));
	assert_non_null(sim_field_invalid(SIM_IMSI, "001-01"));
	assert_non_null(sim_field_invalid(SIM_IMSI, "00101\t"));
}

static void test_operator(void **state)
{
	(void)state;
	assert_null(sim_field_invalid(SIM_OPERATOR, ""));
	assert_null(sim_field_invalid(SIM_OPERATOR, "00101"));  /* MNC of 2 digits */
	assert_null(sim_field_invalid(SIM_OPERATOR, "310410")); /* of 3 */
	assert_non_null(sim_field_invalid(SIM_OPERATOR, "0010"));
	assert_non_null(sim_field_invalid(SIM_OPERATOR, "3104100"));
	assert_non_null(sim_field_invalid(SIM_OPERATOR, "001 01"));
	assert_non_null(sim_field_invalid(SIM_OPERATOR, "Orange"));
}

/* the struct's fields hold the longest value a check lets through, with its NUL */
static void test_fields_fit(void **state)
{
	struct pol_sim sim;

	(void)state;
	assert_true(sizeof(sim.iccid) >= 22 + 1);
	assert_true(sizeof(sim.imsi) >= 15 + 1);
	assert_true(sizeof(sim.operator_id) >= 6 + 1);
}

static void test_first_modem(void **state)
{
	(void)state;
	assert_true(path_before("/org/freedesktop/ModemManager1/Modem/2",
				"/org/freedesktop/ModemManager1/Modem/10"));
	assert_false(path_before("/org/freedesktop/ModemManager1/Modem/10",
				 "/org/freedesktop/ModemManager1/Modem/2"));
	assert_true(path_before("/org/freedesktop/ModemManager1/Modem/3",
				"/org/freedesktop/ModemManager1/Modem/4"));
	assert_false(path_before("/org/freedesktop/ModemManager1/Modem/3",
				 "/org/freedesktop/ModemManager1/Modem/3"));
}

static void test_addresses(void **state)
{
	struct pol_sim sim;
	struct m2m_err err = { 0 };

	(void)state;
	assert_true(unix_only("unix:path=/run/dbus/system_bus_socket"));
	assert_true(unix_only("unix:abstract=/tmp/dbus-x"));
	assert_true(unix_only("unix:path=/a;unix:path=/b"));
	assert_false(unix_only("tcp:host=localhost,port=1234"));
	assert_false(unix_only("unix:path=/a;tcp:host=localhost,port=1234"));
	assert_false(unix_only("unixexec:path=/bin/true"));
	assert_false(unix_only(""));
	/* refused before a connection: a host name's lookup would not be bounded */
	assert_int_equal(pol_sim_read("tcp:host=localhost,port=1", m2m_now_ms() + 1000, NULL, &sim, &err),
			 M2M_ERR_CONFIG);
	assert_non_null(strstr(err.msg, "unix:"));
	/* no socket there: DAEMON at once, and nothing of a SIM */
	memset(&sim, 0xff, sizeof(sim));
	assert_int_equal(pol_sim_read("unix:path=/nonexistent/m2m-test-bus", m2m_now_ms() + 1000, NULL,
				      &sim, &err),
			 M2M_ERR_DAEMON);
	assert_false(sim.modem);
	assert_false(sim.present);
	assert_string_equal(sim.iccid, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_iccid),
		cmocka_unit_test(test_imsi),
		cmocka_unit_test(test_operator),
		cmocka_unit_test(test_fields_fit),
		cmocka_unit_test(test_first_modem),
		cmocka_unit_test(test_addresses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
