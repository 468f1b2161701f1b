/*
 * The registry, instances, results and the shared number helpers
 * (adapters/registry.c, adapters/adapter.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "adapters.h"
#include "adapters/internal.h"

static void test_adapter__registry_lists_every_kind(void **state)
{
    static const char *const names[] = { "csv-manifest", "shopify-order", "ubl-order",
                                         "ubl-waybill",  "ceb311",        "ceb411",
                                         "ceb511",       "ceb621",        "xslt" };
    size_t i;

    (void)state;
    assert_int_equal(cw_adapters_registry_count(), CW_ARRAY_SIZE(names));
    for (i = 0; i < CW_ARRAY_SIZE(names); i++) {
        assert_non_null(cw_adapters_registry_find(names[i]));
        assert_string_equal(cw_adapters_registry_at(i)->name, names[i]);
    }
    assert_null(cw_adapters_registry_at(i));
    assert_null(cw_adapters_registry_find("CSV-MANIFEST"));
    assert_null(cw_adapters_registry_find(NULL));
}

static void test_adapter__instance_sides(void **state)
{
    cw_adapter_conf_t conf = CW_ADAPTER_CONF_INIT;
    cw_adapter_t *a = NULL;
    cw_adapter_result_t r;
    cw_error_t err;
    char *out = NULL;
    const char *media;
    size_t len;

    (void)state;
    conf.name = "csv-manifest";
    assert_int_equal(cw_adapter_new(&a, &conf, &err), 0);
    assert_string_equal(cw_adapter_name(a), "csv-manifest");
    assert_int_equal(cw_adapter_can_in(a), 1);
    assert_int_equal(cw_adapter_can_out(a), 0);
    assert_int_equal(cw_adapter_translate_out(a, NULL, &out, &len, &media, &err), CW_EINVAL);
    cw_adapter_result_init(&r);
    assert_null(cw_adapter_result_take(&r, 0));
    cw_adapter_result_fini(&r);
    cw_adapter_free(a);
    cw_adapter_free(NULL);
}

static void test_adapter__new_survives_oom(void **state)
{
    cw_adapter_conf_t conf = CW_ADAPTER_CONF_INIT;
    cw_adapter_t *a = NULL;
    cw_error_t err;
    long n;
    int rc;

    (void)state;
    conf.name = "ceb621";
    conf.partner_id = "p1";
    for (n = 0; n < 50; n++) {
        cw_alloc_fail_after(n);
        rc = cw_adapter_new(&a, &conf, &err);
        cw_alloc_fail_reset();
        if (rc == 0) {
            break;
        }
        assert_int_equal(rc, CW_ENOMEM);
        assert_null(a);
    }
    assert_int_equal(rc, 0);
    cw_adapter_free(a);
}

static void test_adapter__decimal_parse_and_format(void **state)
{
    int64_t v;
    char buf[40];

    (void)state;
    assert_int_equal(cw_adapters__decimal_parse("12.50", 4, 0, &v), 0);
    assert_int_equal(v, 125000);
    assert_int_equal(cw_adapters__decimal_parse(" 3 ", 3, 0, &v), 0);
    assert_int_equal(v, 30000);
    assert_int_equal(cw_adapters__decimal_parse("-1.5", 4, 1, &v), 0);
    assert_int_equal(v, -15000);
    assert_int_equal(cw_adapters__decimal_parse("-1.5", 4, 0, &v), CW_EPARSE);
    assert_int_equal(cw_adapters__decimal_parse("1.2345", 3, 0, &v), CW_EPARSE);
    assert_int_equal(cw_adapters__decimal_parse("1e3", 4, 0, &v), CW_EPARSE);
    assert_int_equal(cw_adapters__decimal_parse("1.2.3", 4, 0, &v), CW_EPARSE);
    assert_int_equal(cw_adapters__decimal_parse(".", 4, 0, &v), CW_EPARSE);
    assert_int_equal(cw_adapters__decimal_parse("", 4, 0, &v), CW_EPARSE);
    assert_int_equal(cw_adapters__decimal_parse("99999999999999999999", 4, 0, &v), CW_EPARSE);
    /* Found while adding fuzz_adapters (UBSan): 15 integer digits overflowed once scaled. */
    assert_int_equal(cw_adapters__decimal_parse("922337203685479", 4, 0, &v), CW_EPARSE);
    assert_int_equal(cw_adapters__decimal_parse("922337203685477.58", 4, 0, &v), 0);
    assert_true(v == INT64_C(9223372036854775800));
    cw_adapters__decimal_format(buf, sizeof(buf), 125000, 2);
    assert_string_equal(buf, "12.50");
    cw_adapters__decimal_format(buf, sizeof(buf), 4200, 0);
    assert_string_equal(buf, "0.42");
    cw_adapters__decimal_format(buf, sizeof(buf), 10000, 0);
    assert_string_equal(buf, "1");
    cw_adapters__decimal_format(buf, sizeof(buf), -15000, 2);
    assert_string_equal(buf, "-1.50");
    cw_adapters__decimal_format(buf, sizeof(buf), INT64_MIN, 0);
    assert_string_equal(buf, "-922337203685477.5808");
}

static void test_adapter__codes_normalised(void **state)
{
    char buf[16];

    (void)state;
    cw_adapters__hs_normalize(buf, sizeof(buf), "8517.62.00");
    assert_string_equal(buf, "85176200");
    cw_adapters__country_normalize(buf, sizeof(buf), " gb ");
    assert_string_equal(buf, "GB");
    cw_adapters__country_normalize(buf, sizeof(buf), "GBR");
    assert_string_equal(buf, "");
    cw_adapters__country_normalize(buf, sizeof(buf), "4");
    assert_string_equal(buf, "");
    cw_adapters__country_normalize(buf, sizeof(buf), NULL);
    assert_string_equal(buf, "");
}

/* Added with fuzz_adapters' fixes: what a canonical document may hold as text. */
static void test_adapter__xml_text_and_utf8_trim(void **state)
{
    static const char *const good[] = { "", "M\xc3\xbcller", "a\tb\r\n", "\xf0\x9f\x93\xa6",
                                        "\xef\xbf\xbd" };
    static const char *const bad[] = {
        "\x01",         "x\x1f",        "\xfc",         "\xc3",         "\xc0\x80",
        "\xe0\x80\x80", "\xed\xa0\x80", "\xef\xbf\xbe", "\xef\xbf\xbf", "\xf4\x90\x80\x80",
    };
    char buf[16];
    size_t i;

    (void)state;
    for (i = 0; i < CW_ARRAY_SIZE(good); i++) {
        assert_int_equal(cw_adapters__xml_text_ok(good[i]), 1);
    }
    for (i = 0; i < CW_ARRAY_SIZE(bad); i++) {
        assert_int_equal(cw_adapters__xml_text_ok(bad[i]), 0);
    }
    (void)cw_strlcpy(buf, "ab\xc3", sizeof(buf));
    cw_adapters__utf8_trim(buf);
    assert_string_equal(buf, "ab");
    (void)cw_strlcpy(buf, "ab\xf0\x9f\x93", sizeof(buf));
    cw_adapters__utf8_trim(buf);
    assert_string_equal(buf, "ab");
    (void)cw_strlcpy(buf, "ab\xf0\x9f\x93\xa6", sizeof(buf));
    cw_adapters__utf8_trim(buf);
    assert_string_equal(buf, "ab\xf0\x9f\x93\xa6");
    (void)cw_strlcpy(buf, "ab\xc3\xbc", sizeof(buf));
    cw_adapters__utf8_trim(buf);
    assert_string_equal(buf, "ab\xc3\xbc");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adapter__registry_lists_every_kind),
        cmocka_unit_test(test_adapter__instance_sides),
        cmocka_unit_test(test_adapter__new_survives_oom),
        cmocka_unit_test(test_adapter__decimal_parse_and_format),
        cmocka_unit_test(test_adapter__codes_normalised),
        cmocka_unit_test(test_adapter__xml_text_and_utf8_trim),
    };
    return cmocka_run_group_tests_name("adapters_adapter", tests, NULL, NULL);
}
