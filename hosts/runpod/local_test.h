/* Local one-shot mode, as the platform SDK offers it: one job from --test-input (JSON text
 * or a file) or ./test_input.json, result on stdout, exit 0, or 1 when the result is an
 * error or the test input is unusable. */
#ifndef RP_LOCAL_TEST_H
#define RP_LOCAL_TEST_H

#include <spark/engine.h>

/* Reads the test document (NULL source: ./test_input.json). Returns a parsed {"input": ...}
 * document or NULL after logging why. */
struct cJSON *rp_local_test_load(const char *source);
int rp_local_test_run(spark_pipeline *pipeline, struct cJSON *doc);

#endif
