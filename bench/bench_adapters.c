/*
 * bench_adapters: a carrier manifest of --rows parcels (default 10,000, three
 * items each, quoted fields, CRLF) through the csv-manifest adapter, then
 * every canonical document serialised as the pipeline would, and a sample of
 * them through ceb621 out. Prints time per stage and peak RSS (getrusage
 * ru_maxrss) before and after. Use a build without sanitizers.
 *
 *   bench_adapters [--rows 10000] [--ceb 1000] [--stream]
 *
 * --stream hands each document to a callback (cw_adapter_result_t.on_doc)
 * that serialises and frees it, instead of keeping all of them.
 */
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include <libxml/parser.h>

#include "adapters.h"
#include "sec.h"

static long peak_rss_kb(void)
{
    struct rusage ru;

    if (getrusage(RUSAGE_SELF, &ru) != 0) {
        return -1;
    }
    return ru.ru_maxrss; /* kilobytes on Linux */
}

typedef struct stream_state {
    size_t docs;
    size_t bytes;
} stream_state_t;

static int on_doc(xmlDoc *doc, size_t item, size_t line, void *arg)
{
    stream_state_t *st = arg;
    char *text = NULL;
    size_t len = 0;
    int rc;

    (void)item;
    (void)line;
    rc = cw_sec_xml_serialize(&text, &len, doc);
    xmlFreeDoc(doc);
    cw_free(text);
    st->docs++;
    st->bytes += len;
    return rc;
}

static int manifest_make(cw_buf_t *b, size_t rows)
{
    size_t i;
    int rc = 0;

    CW_TRY(cw_buf_appends(b, "tracking_number,order_number,sender_name,sender_country,"
                             "recipient_name,recipient_address1,recipient_city,"
                             "recipient_postcode,recipient_phone,destination_country,"
                             "weight_kg,currency,content_type,"
                             "item_description_1,item_quantity_1,item_net_weight_kg_1,"
                             "item_value_1,item_hs_code_1,item_origin_1,"
                             "item_description_2,item_quantity_2,item_net_weight_kg_2,"
                             "item_value_2,item_hs_code_2,item_origin_2,"
                             "item_description_3,item_quantity_3,item_net_weight_kg_3,"
                             "item_value_3,item_hs_code_3,item_origin_3\r\n"));
    for (i = 0; i < rows; i++) {
        CW_TRY(cw_buf_appendf(
            b,
            "LX%09zuCN,SO-%zu,\"Shenzhen Lumen Electronics Co., Ltd\",CN,Customer %zu,"
            "\"%zu Rue de Rivoli, Bat. %zu\",Paris,75001,+33 1 40 00 %04zu,FR,1.%03zu,EUR,sale,"
            "\"LED desk lamp, aluminium\",1,0.61,38.50,9405.21,CN,"
            "Cotton T-shirt,3,0.54,29.97,610910,BD,"
            "\"Wireless earbuds, Bluetooth\",1,0.18,24.99,8518.30,CN\r\n",
            i, i, i, i % 200 + 1, i % 7, i % 10000, i % 1000));
    }
out:
    return rc;
}

int main(int argc, char **argv)
{
    cw_adapter_conf_t conf = CW_ADAPTER_CONF_INIT;
    cw_adapter_t *csv = NULL, *ceb = NULL;
    cw_adapter_result_t res;
    cw_error_t err;
    cw_buf_t b;
    size_t rows = 10000, ceb_n = 1000, i, bytes_out = 0, len;
    uint64_t t0, t1, t2, t3;
    long rss0, rss1, rss2;
    char *text;
    const char *media;
    stream_state_t stream = { 0, 0 };
    int rc = 1, a, streaming = 0;

    for (a = 1; a < argc; a++) {
        uint64_t v;
        if (strcmp(argv[a], "--stream") == 0) {
            streaming = 1;
            continue;
        }
        if (a + 1 >= argc) {
            fprintf(stderr, "usage: bench_adapters [--rows N] [--ceb N] [--stream]\n");
            return 2;
        }
        if (cw_parse_uint(argv[a + 1], 1, 10000000, &v) < 0) {
            fprintf(stderr, "bad number %s\n", argv[a + 1]);
            return 2;
        }
        if (strcmp(argv[a], "--rows") == 0) {
            rows = (size_t)v;
        } else if (strcmp(argv[a], "--ceb") == 0) {
            ceb_n = (size_t)v;
        }
        a++;
    }
    xmlInitParser();
    cw_error_clear(&err);
    cw_adapter_result_init(&res);
    cw_buf_init(&b, 1024u * 1024u * 1024u);
    if (manifest_make(&b, rows) < 0) {
        fprintf(stderr, "out of memory making the manifest\n");
        goto out;
    }
    conf.name = "csv-manifest";
    conf.limits.items_max = rows;
    conf.limits.input_bytes_max = b.len;
    if (cw_adapter_new(&csv, &conf, &err) < 0) {
        goto fail;
    }
    conf.name = "ceb621";
    if (cw_adapter_new(&ceb, &conf, &err) < 0) {
        goto fail;
    }
    if (streaming) {
        res.on_doc = on_doc;
        res.arg = &stream;
    }
    rss0 = peak_rss_kb();
    t0 = cw_time_mono_ns();
    if (cw_adapter_translate_in(csv, b.data, b.len, "text/csv", &res, &err) < 0) {
        goto fail;
    }
    t1 = cw_time_mono_ns();
    rss1 = peak_rss_kb();
    for (i = 0; i < res.doc_count; i++) {
        if (cw_sec_xml_serialize(&text, &len, res.docs[i].doc) < 0) {
            fprintf(stderr, "serialise failed\n");
            goto out;
        }
        bytes_out += len;
        cw_free(text);
    }
    t2 = cw_time_mono_ns();
    for (i = 0; i < ceb_n && i < res.doc_count; i++) {
        if (cw_adapter_translate_out(ceb, res.docs[i].doc, &text, &len, &media, &err) < 0) {
            goto fail;
        }
        cw_free(text);
    }
    t3 = cw_time_mono_ns();
    rss2 = peak_rss_kb();

    printf("manifest: %zu rows, %zu bytes; %zu consignments, %zu row errors (%s)\n", rows, b.len,
           streaming ? stream.docs : res.doc_count, res.error_count,
           streaming ? "streamed: each serialised and freed in on_doc" : "all kept in the result");
    printf("csv-manifest translate_in : %8.1f ms  (%6.1f us/row, %8.0f rows/s)\n",
           (double)(t1 - t0) / 1e6, (double)(t1 - t0) / 1e3 / (double)rows,
           (double)rows / ((double)(t1 - t0) / 1e9));
    if (!streaming) {
        printf("serialise canonical XML   : %8.1f ms  (%zu bytes)\n", (double)(t2 - t1) / 1e6,
               bytes_out);
    } else {
        printf("  (translate_in includes serialising %zu bytes)\n", stream.bytes);
    }
    if (!streaming) {
        printf("ceb621 translate_out x%-5zu: %8.1f ms  (%6.1f us/doc)\n", i,
               (double)(t3 - t2) / 1e6, i > 0 ? (double)(t3 - t2) / 1e3 / (double)i : 0.0);
    }
    printf("peak RSS: %ld KiB before, %ld KiB after translate_in (+%ld KiB, %.1f KiB/row), "
           "%ld KiB at the end\n",
           rss0, rss1, rss1 - rss0, (double)(rss1 - rss0) / (double)rows, rss2);
    rc = 0;
    goto out;
fail:
    fprintf(stderr, "bench_adapters: %s\n", err.msg);
out:
    cw_adapter_result_fini(&res);
    cw_adapter_free(csv);
    cw_adapter_free(ceb);
    cw_buf_fini(&b);
    return rc;
}
