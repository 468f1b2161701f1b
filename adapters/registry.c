/*
 * The adapter kinds, by name. Adding a kind is one line here and one ops
 * table in its own file; nothing outside adapters/ changes (STYLE.md rule 4).
 */
#include <string.h>

#include "adapters.h"
#include "internal.h"

static const struct cw_adapter_ops *const kinds[] = {
    &cw_adapters__csv_manifest_ops, &cw_adapters__shopify_order_ops, &cw_adapters__ubl_order_ops,
    &cw_adapters__ubl_waybill_ops,  &cw_adapters__ceb311_ops,        &cw_adapters__ceb411_ops,
    &cw_adapters__ceb511_ops,       &cw_adapters__ceb621_ops,        &cw_adapters__xslt_ops,
};

size_t cw_adapters_registry_count(void)
{
    return CW_ARRAY_SIZE(kinds);
}

const struct cw_adapter_ops *cw_adapters_registry_at(size_t i)
{
    if (i >= CW_ARRAY_SIZE(kinds)) {
        return NULL;
    }
    return kinds[i];
}

const struct cw_adapter_ops *cw_adapters_registry_find(const char *name)
{
    size_t i;

    if (name == NULL) {
        return NULL;
    }
    for (i = 0; i < CW_ARRAY_SIZE(kinds); i++) {
        if (strcmp(kinds[i]->name, name) == 0) {
            return kinds[i];
        }
    }
    return NULL;
}

int cw_adapters_registry_sides(const char *name, int in_flag, int out_flag)
{
    const struct cw_adapter_ops *ops = cw_adapters_registry_find(name);
    int sides = 0;

    if (ops == NULL) {
        return CW_ENOENT;
    }
    if (ops->translate_in != NULL) {
        sides |= in_flag;
    }
    if (ops->translate_out != NULL) {
        sides |= out_flag;
    }
    return sides;
}
