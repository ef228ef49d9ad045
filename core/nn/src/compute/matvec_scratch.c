/* Per-thread scratch: a thread-local table, freed by a pthread key destructor at thread exit. */
#include "matvec_scratch.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct scratch_table {
    void *buf[NN_SCRATCH_SLOTS];
    size_t cap[NN_SCRATCH_SLOTS];
} scratch_table;

static _Thread_local scratch_table table;
static pthread_key_t exit_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

static void free_table(void *arg)
{
    scratch_table *t = arg;
    for (int i = 0; i < NN_SCRATCH_SLOTS; i++) {
        free(t->buf[i]);
        t->buf[i] = NULL;
        t->cap[i] = 0;
    }
}

static void make_key(void)
{
    if (pthread_key_create(&exit_key, free_table) != 0) {
        fprintf(stderr, "matvec scratch: pthread_key_create failed\n");
        abort();
    }
}

void *nn_scratch(nn_scratch_slot slot, size_t bytes)
{
    scratch_table *t = &table;
    if (t->cap[slot] >= bytes)
        return t->buf[slot];
    pthread_once(&key_once, make_key);
    size_t cap = (bytes + 4095) & ~(size_t)4095;
    void *p = aligned_alloc(64, cap);
    if (!p) {
        fprintf(stderr, "matvec scratch: out of memory for %zu bytes\n", cap);
        abort();
    }
    free(t->buf[slot]);
    t->buf[slot] = p;
    t->cap[slot] = cap;
    pthread_setspecific(exit_key, t);
    return p;
}
