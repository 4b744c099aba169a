/* libFuzzer target: the YAML configuration parser (config_load_string).
 * Whatever loads must dump to YAML that loads back to the identical struct. */
#include "config/config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ec_config *cfg = malloc(sizeof *cfg), *again = malloc(sizeof *again);
    if (!cfg || !again)
        abort();
    ec_err err = {0};
    config_defaults(cfg);
    if (config_load_string((const char *)data, size, "fuzz", cfg, &err) == 0) {
        char *text = NULL;
        size_t len = 0;
        FILE *mem = open_memstream(&text, &len);
        if (!mem || config_dump_yaml(cfg, mem) != 0)
            abort();
        fclose(mem);
        config_defaults(again);
        if (config_load_string(text, len, "dump", again, &err) != 0) {
            fprintf(stderr, "dump does not load back: %s\n", err.msg);
            abort();
        }
        if (memcmp(cfg, again, sizeof *cfg) != 0) {
            fprintf(stderr, "dump loads back to a different config\n");
            abort();
        }
        free(text);
    } else if (!err.msg[0]) {
        abort(); /* an error must say why */
    }
    free(cfg);
    free(again);
    return 0;
}
