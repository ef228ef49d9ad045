/* Fuzz target: the restricted unpickler alone, on any byte stream as a data.pkl. What it
 * accepts must be internally consistent: every tensor names a storage it returned. */
#include "unpickle.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pickled_state_dict state;
    char *error = NULL;
    if (unpickle_state_dict(data, size, &state, &error) != 0) {
        if (!error)
            abort(); /* a refusal always says why */
        free(error);
        return 0;
    }
    for (size_t i = 0; i < state.count; i++) {
        const pickled_tensor *t = &state.tensors[i];
        if (t->storage >= state.storage_count || t->ndim > NN_MAX_DIMS || !t->name)
            abort();
        for (uint32_t d = 0; d < t->ndim; d++)
            if (t->shape[d] < 0 || t->strides[d] < 0)
                abort();
    }
    for (size_t i = 0; i < state.storage_count; i++)
        if (!state.storages[i].key || !state.storages[i].key[0])
            abort();
    pickled_state_dict_free(&state);
    return 0;
}
