/* JSON-lines or plain log output, serialized across threads. */
#include "rp_log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include <cjson/cJSON.h>

static bool log_json;
static int log_max = RP_INFO;
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

void rp_log_setup(bool json, int max_level)
{
    log_json = json;
    log_max = max_level;
}

int rp_log_level_parse(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcasecmp(name, level_names[i]) == 0)
            return i;
    if (strcasecmp(name, "WARNING") == 0)
        return RP_WARN;
    return -1;
}

static void emit(int level, const char *job_id, const char *message)
{
    if (level > log_max)
        return;
    if (level < 0)
        level = 0;
    if (level > 3)
        level = 3;
    pthread_mutex_lock(&log_mu);
    if (log_json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "requestId",
                              job_id ? cJSON_CreateString(job_id) : cJSON_CreateNull());
        cJSON_AddStringToObject(o, "message", message);
        cJSON_AddStringToObject(o, "level", level_names[level]);
        char *text = cJSON_PrintUnformatted(o);
        if (text)
            fprintf(stderr, "%s\n", text);
        free(text);
        cJSON_Delete(o);
    } else if (job_id) {
        fprintf(stderr, "sparkhost-runpod: %s: [%s] %s\n", level_names[level], job_id, message);
    } else {
        fprintf(stderr, "sparkhost-runpod: %s: %s\n", level_names[level], message);
    }
    fflush(stderr);
    pthread_mutex_unlock(&log_mu);
}

void rp_log(int level, const char *job_id, const char *fmt, ...)
{
    if (level > log_max)
        return;
    char stack[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(stack, sizeof stack, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof stack) {
        emit(level, job_id, stack);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        emit(level, job_id, stack);
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    emit(level, job_id, big);
    free(big);
}

void rp_log_engine(void *user, int level, const char *line)
{
    (void)user;
    rp_log(level, NULL, "%s", line);
}
