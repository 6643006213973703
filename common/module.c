/*
 * module.c — the list of modules, in the order they are started and printed.
 */
#include "module.h"

#include "util.h"

const struct module *const modules[MODULE_COUNT] = {
    [MODULE_ARM] = &arm_module,         [MODULE_AAD] = &aad_module,
    [MODULE_IMDS] = &imds_module,       [MODULE_KEYVAULT] = &keyvault_module,
    [MODULE_STORAGE] = &storage_module, [MODULE_AZURITE] = &azurite_module,
};

const struct module *module_by_name(const char *name)
{
    for (int i = 0; i < MODULE_COUNT; i++) {
        if (str_ieq(modules[i]->name, name))
            return modules[i];
    }
    return NULL;
}
