# shellcheck shell=bash
# Sourced by run-demo: make_traffic DIR writes the demo's traffic, the same
# bytes on every run (no clock, no randomness):
#
#   catalog.json          the shop's product catalogue (seller with an IOSS number)
#   orders-01..06.json    120 Shopify-style orders, 20 per post (platform)
#   manifest-01..04.csv   200 parcels for EU buyers, 50 per manifest (carrier)
#   split-1..4.csv        a split shipment, one parcel per file (carrier)
#   export-cn.csv         20 parcels from the EU to buyers in China (carrier)
#   ceb311-orders.xml     10 CEB311 import orders from China customs' side
#
# The cases (docs/demo.md): ordinary sales; vague descriptions ("gift",
# "parts"); a bad HS code; a lithium battery; a split shipment (one buyer,
# four parcels the same day, together above EUR 150); parcels above the
# EUR 150 low-value regime; IOSS orders and IOSS used above EUR 150; goods
# to China; CEB data from China.

make_traffic() {
    local dir=$1

    cat >"$dir/catalog.json" <<'JSON'
{
  "seller": {
    "id": "PT-ATELIER-LISBOA",
    "name": "Atelier Lisboa Homewares Lda",
    "country": "PT",
    "registrations": [ { "scheme": "IOSS", "id": "IM6200012345" } ]
  },
  "dispatch_country": "CN",
  "products": {
    "TS-CREW-M": { "hs_code": "6109.10", "origin": "CN", "description": "Men's cotton T-shirt, crew neck" },
    "MUG-350":   { "hs_code": "6912.00", "origin": "CN", "description": "Stoneware mug, glazed, 350 ml" },
    "TOWEL-LIN": { "hs_code": "6302.59", "origin": "CN", "description": "Tea towel of woven flax (linen), 45x70 cm" },
    "CASE-SIL":  { "hs_code": "3926.90", "origin": "CN", "description": "Silicone phone case for smartphone" },
    "LAMP-LED":  { "hs_code": "9405.21", "origin": "CN", "description": "LED desk lamp, aluminium, USB-C" },
    "EARBUD-53": { "hs_code": "8518.30", "origin": "CN", "description": "Wireless earbuds, Bluetooth 5.3" },
    "SCARF-SLK": { "hs_code": "6214.10", "origin": "CN", "description": "Silk scarf, 100% mulberry silk" }
  }
}
JSON

    # Shopify orders. Order j: 1-3 lines from the catalogue; every 15th is
    # above EUR 150 (IOSS may not be used: TAX-001, red); every 12th has a
    # line the catalogue does not know (no HS code: DAT-001, yellow).
    awk -v dir="$dir" 'BEGIN {
        split("TS-CREW-M MUG-350 TOWEL-LIN CASE-SIL LAMP-LED EARBUD-53 SCARF-SLK", sku, " ")
        split("1290 1890 1450 1600 3850 2499 4500", price, " ")
        split("180 420 110 80 610 180 90", grams, " ")
        split("Anna Lucas Sofia Jan Marta Pablo Eva Lena Hugo Ines", first, " ")
        split("Schmidt Martin Rossi de-Vries Kowalska Garcia Novak Huber Dubois Ferreira Berg Moreau Conti", last, " ")
        split("Lindenstrasse|rue des Lilas|Via Roma|Keizersgracht|ul. Dluga|Calle Mayor|Vinohradska|Mariahilfer Strasse", streets, "|")
        split("Berlin|Lyon|Milano|Amsterdam|Krakow|Madrid|Praha|Wien", cities, "|")
        split("10115|69003|20121|1016 DV|31-147|28013|120 00|1060", zips, "|")
        split("DE FR IT NL PL ES CZ AT", cc, " ")
        split("+49 30 555|+33 4 72 00|+39 02 1234|+31 20 555|+48 12 345|+34 91 123|+420 221 234|+43 1 234", phones, "|")
        for (b = 0; b < 6; b++) {
            f = sprintf("%s/orders-%02d.json", dir, b + 1)
            printf "{\"orders\":[\n" > f
            for (k = 1; k <= 20; k++) {
                j = b * 20 + k
                p = (j % 8) + 1
                nl = 1 + j % 3
                goods = 0; lines = ""; weight = 0
                for (l = 1; l <= nl; l++) {
                    s = ((j + l * 3) % 7) + 1
                    q = (j % 15 == 0) ? 4 : 1 + (l == 1 && j % 4 == 0)
                    pr = (j % 15 == 0) ? 4900 : price[s]
                    goods += q * pr; weight += q * grams[s]
                    if (j % 12 == 5 && l == 1)
                        item = sprintf("{\"id\":%d,\"sku\":\"GIFTSET-%d\",\"name\":\"Handmade soap gift set\",\"quantity\":%d,\"price\":\"%.2f\",\"grams\":%d}", j * 10 + l, j, q, pr / 100, grams[s])
                    else
                        item = sprintf("{\"id\":%d,\"sku\":\"%s\",\"name\":\"%s\",\"quantity\":%d,\"price\":\"%.2f\",\"grams\":%d}", j * 10 + l, sku[s], sku[s], q, pr / 100, grams[s])
                    lines = lines (l > 1 ? "," : "") item
                }
                tax = int(goods * 0.2 + 0.5); ship = 490
                total = goods + ship + tax
                fn = first[(j % 10) + 1]; ln = last[(j % 13) + 1]; sub("-", " ", ln)
                st = sprintf("%s %d", streets[p], j); ph = sprintf("%s %04d", phones[p], j)
                printf "{\"id\":58301200%05d,\"name\":\"#%d\",\"created_at\":\"2026-11-28T10:%02d:00+01:00\",\"currency\":\"EUR\",", j, 4000 + j, j % 60 > f
                printf "\"email\":\"buyer%d@example.eu\",\"checkout_token\":\"tok%06d\",", j, j > f
                printf "\"total_line_items_price\":\"%.2f\",\"total_discounts\":\"0.00\",\"total_tax\":\"%.2f\",\"total_price\":\"%.2f\",\"total_weight\":%d,", goods / 100, tax / 100, total / 100, weight + 150 > f
                printf "\"customer\":{\"id\":%d,\"first_name\":\"%s\",\"last_name\":\"%s\",\"phone\":\"%s\"},", 70000 + j, fn, ln, ph > f
                printf "\"billing_address\":{\"first_name\":\"%s\",\"last_name\":\"%s\",\"address1\":\"%s\",\"city\":\"%s\",\"zip\":\"%s\",\"country_code\":\"%s\",\"phone\":\"%s\"},", fn, ln, st, cities[p], zips[p], cc[p], ph > f
                printf "\"shipping_address\":{\"name\":\"%s\",\"address1\":\"%s\",\"city\":\"%s\",\"zip\":\"%s\",\"country_code\":\"%s\",\"phone\":\"%s\"},", fn " " ln, st, cities[p], zips[p], cc[p], ph > f
                printf "\"shipping_lines\":[{\"code\":\"Standard\",\"price\":\"4.90\"}],\"line_items\":[%s],", lines > f
                printf "\"fulfillments\":[{\"tracking_number\":\"LP%09dCN\"}]}%s\n", 500000000 + j, (k < 20 ? "," : "") > f
            }
            printf "]}\n" > f
            close(f)
        }
    }'

    # Carrier manifests for EU buyers. Row i: cases by position (see above).
    # They go by air (transport_mode), so the battery packs meet the
    # restricted-goods rule for lithium by air (PRH-002).
    awk -v dir="$dir" 'BEGIN {
        hdr = "tracking_number,order_number,sender_name,sender_country,recipient_name,recipient_address1,recipient_city,recipient_postcode,recipient_phone,destination_country,weight_kg,currency,content_type,transport_mode,freight,item_description_1,item_quantity_1,item_net_weight_kg_1,item_value_1,item_hs_code_1,item_origin_1"
        split("Shenzhen Bright Apparel Co. Ltd|Ningbo Homeware Trading Co. Ltd|Yiwu Festive Goods Co. Ltd|Guangzhou Volt Electronics Ltd|Hangzhou Silk House", sellers, "|")
        split("Men'\''s cotton T-shirt, crew neck|6109.10|1290|0.18|CN;Stoneware mug, glazed, 350 ml|6912.00|1890|0.42|CN;Silicone phone case for smartphone|3926.90|1600|0.08|CN;LED desk lamp, aluminium, USB-C|9405.21|3850|0.61|CN;Wireless earbuds, Bluetooth 5.3|8518.30|2499|0.18|CN;Silk scarf, 100% mulberry silk|6214.10|4500|0.09|CN;Stainless steel kitchen scale|8423.10|2200|0.55|CN;Knitted wool gloves|6116.99|990|0.12|CN", goods, ";")
        split("Ingrid Pieter Marie Jonas Giulia Carlos Katarzyna Tomas Elena Mikkel Aoife Joao", first, " ")
        split("Halvorsen van-Dijk Laurent Weber Bianchi Ruiz Nowak Horak Popescu Jensen Byrne Silva Tamm Peeters Lambert Keller Rinaldi", last, " ")
        split("Narva mnt|Prinsengracht|avenue Foch|Bergmannstrasse|Corso Italia|Gran Via|ul. Polna|Namesti Miru|Strada Lipscani|Vesterbrogade|Dame Street|Rua Augusta", streets, "|")
        split("Tallinn|Utrecht|Paris|Berlin|Torino|Madrid|Warszawa|Brno|Bucuresti|Kobenhavn|Dublin|Lisboa", cities, "|")
        split("10111|3511 AB|75016|10961|10121|28013|00-001|602 00|030167|1620|D02 X285|1100-048", zips, "|")
        split("EE NL FR DE IT ES PL CZ RO DK IE PT", cc, " ")
        split("+372 5123|+31 30 555|+33 1 45 00|+49 30 765|+39 011 123|+34 91 765|+48 22 123|+420 541 123|+40 21 123|+45 33 12|+353 1 234|+351 21 123", phones, "|")
        for (m = 0; m < 4; m++) {
            f = sprintf("%s/manifest-%02d.csv", dir, m + 1)
            print hdr > f
            for (k = 1; k <= 50; k++) {
                i = m * 50 + k
                split(goods[(i % 8) + 1], g, "|")
                p = (i * 7) % 12 + 1
                q = 1 + i % 3
                desc = g[1]; hs = g[2]; unit = g[3]; kg = g[4]; ctype = "sale"
                last1 = last[(i % 17) + 1]; sub("-", " ", last1)
                name = first[(i % 12) + 1] " " last1; street = sprintf("%s %d", streets[p], i)
                city = cities[p]; zip = zips[p]; c = cc[p]; ph = sprintf("%s %04d", phones[p], i)
                if (i % 25 == 3) { desc = "gift"; ctype = "gift"; hs = "9505.10"; unit = 1500; q = 1 }
                if (i % 25 == 8) { desc = "parts"; hs = "8708.99"; unit = 2900; q = 1 }
                if (i % 40 == 13) { hs = "9900.00" }
                if (i % 50 == 21) { desc = "Lithium-ion battery pack 18650, 3400 mAh"; hs = "8507.60"; unit = 1800; kg = 0.09; q = 2 }
                if (i % 33 == 0) { desc = "Bluetooth portable speaker, waterproof"; hs = "8518.22"; unit = 8900; q = 3; kg = 0.7 }
                value = q * unit
                printf "CWDEMO%06dCN,SO-%05d,%s,CN,%s,\"%s\",%s,%s,%s,%s,%.3f,EUR,%s,air,3.50,\"%s\",%d,%.3f,%.2f,%s,CN\n", \
                    i, 10000 + i, sellers[(i % 5) + 1], name, street, city, zip, ph, c, q * kg + 0.15, ctype, desc, q, q * kg, value / 100, hs > f
            }
            close(f)
        }
        # The split shipment: one buyer, four parcels the same day, EUR 55 each
        # (EUR 220 together, above the EUR 150 regime): one file per parcel,
        # sent one after the other.
        for (s = 1; s <= 4; s++) {
            f = sprintf("%s/split-%d.csv", dir, s)
            print hdr > f
            printf "CWSPLIT%05dAT,SO-3000%d,Hangzhou Silk House,CN,Lukas Brenner,\"Hauptstrasse 9\",Graz,8010,+43 316 123456,AT,1.250,EUR,sale,air,3.50,\"Leather hiking boots, pair\",1,1.100,55.00,6403.91,CN\n", s, s > f
            close(f)
        }
    }'

    # Parcels from the EU to buyers in China (the carrier's export desk).
    awk -v f="$dir/export-cn.csv" 'BEGIN {
        print "tracking_number,order_number,sender_name,sender_country,recipient_name,recipient_address1,recipient_city,recipient_postcode,recipient_phone,destination_country,weight_kg,currency,content_type,freight,item_description_1,item_quantity_1,item_net_weight_kg_1,item_value_1,item_hs_code_1,item_origin_1" > f
        split("Infant formula milk powder, 800 g tin|1901101000|32000|0.8|DE;Vitamin C effervescent tablets, 20 tablets|2106909090|8900|0.1|DE;Moisturising face cream, 50 g|3304990099|25600|0.06|FR;Red wine, Bordeaux, 750 ml|2204210000|21000|1.3|FR", goods, ";")
        split("Wang Li|Chen Gang|Zhang Min|Liu Yang|Zhao Lei", names, "|")
        for (i = 1; i <= 20; i++) {
            split(goods[(i % 4) + 1], g, "|")
            printf "EUCN%07dDE,EX-%05d,Rheinland Naturkost GmbH,DE,%s,\"Wensan Road %d\",Hangzhou,310012,+86 571 8888 %04d,CN,%.3f,CNY,sale,30.00,\"%s\",1,%.3f,%.2f,%s,%s\n", \
                i, 20000 + i, names[(i % 5) + 1], 80 + i, 1000 + i, g[4] + 0.2, g[1], g[4], g[3] / 100, g[2], g[5] > f
        }
    }'

    # CEB311 import orders, as China's platforms file them with customs-cn.
    awk -v f="$dir/ceb311-orders.xml" 'BEGIN {
        print "<?xml version=\"1.0\" encoding=\"UTF-8\"?>" > f
        print "<ceb:CEB311Message guid=\"7F3A9C21-5B4E-4D8A-9E10-2C6B8F0D0000\" version=\"1.0\" xmlns:ceb=\"http://www.chinaport.gov.cn/ceb\">" > f
        for (i = 1; i <= 10; i++) {
            v = 89 + i * 17
            printf "<ceb:Order><ceb:OrderHead><ceb:guid>7F3A9C21-5B4E-4D8A-9E10-2C6B8F0D%04d</ceb:guid><ceb:appType>1</ceb:appType><ceb:appTime>20261128%02d3005</ceb:appTime><ceb:appStatus>2</ceb:appStatus><ceb:orderType>I</ceb:orderType>", i, 8 + i % 10 > f
            printf "<ceb:orderNo>HZ2026112800%04d</ceb:orderNo><ceb:ebpCode>3301960ABC</ceb:ebpCode><ceb:ebpName>Xihu Cross-border Mall</ceb:ebpName><ceb:ebcCode>3301960XYZ</ceb:ebcCode><ceb:ebcName>Hangzhou Youpin Trading Co</ceb:ebcName>", i > f
            printf "<ceb:goodsValue>%d.00</ceb:goodsValue><ceb:freight>0</ceb:freight><ceb:discount>0</ceb:discount><ceb:taxTotal>0</ceb:taxTotal><ceb:acturalPaid>%d.00</ceb:acturalPaid><ceb:currency>142</ceb:currency>", v, v > f
            printf "<ceb:buyerRegNo>xh_user_%05d</ceb:buyerRegNo><ceb:buyerName>Buyer %d</ceb:buyerName><ceb:buyerTelephone>+86 139 0571 %04d</ceb:buyerTelephone><ceb:buyerIdType>1</ceb:buyerIdType><ceb:buyerIdNumber>3301061990010%05d</ceb:buyerIdNumber>", i, i, i, i > f
            printf "<ceb:payTransactionId>PAY20261128%06d</ceb:payTransactionId><ceb:consignee>Buyer %d</ceb:consignee><ceb:consigneeTelephone>+86 139 0571 %04d</ceb:consigneeTelephone><ceb:consigneeAddress>Wensan Road %d, Hangzhou</ceb:consigneeAddress></ceb:OrderHead>", i, i, i, i > f
            printf "<ceb:OrderList><ceb:gnum>1</ceb:gnum><ceb:itemNo>DE-VIT-%04d</ceb:itemNo><ceb:itemName>Vitamin C effervescent tablets</ceb:itemName><ceb:gcode>2106909090</ceb:gcode><ceb:unit>142</ceb:unit><ceb:qty>1</ceb:qty><ceb:price>%d.00</ceb:price><ceb:totalPrice>%d.00</ceb:totalPrice><ceb:currency>142</ceb:currency><ceb:country>304</ceb:country></ceb:OrderList></ceb:Order>\n", i, v, v > f
        }
        print "<ceb:BaseTransfer><ceb:copCode>3301960XYZ</ceb:copCode><ceb:copName>Hangzhou Youpin Trading Co</ceb:copName><ceb:dxpMode>DXP</ceb:dxpMode><ceb:dxpId>DXPENT0000012345</ceb:dxpId></ceb:BaseTransfer>" > f
        print "</ceb:CEB311Message>" > f
    }'
}
