/* Worker log lines on stderr, one per line and flushed at once. On the platform (or with
 * --log-json) each line is a JSON object {"requestId", "message", "level"}, the shape the
 * platform's log view filters by. Nothing secret is ever passed in. */
#ifndef RP_LOG_H
#define RP_LOG_H

#include <stdbool.h>

enum { RP_ERROR = 0, RP_WARN = 1, RP_INFO = 2, RP_DEBUG = 3 };

void rp_log_setup(bool json, int max_level);
/* Reads ERROR|WARN|INFO|DEBUG (any case); -1 when it is none of them. */
int rp_log_level_parse(const char *name);
/* job_id: the job the line is about, or NULL. */
void rp_log(int level, const char *job_id, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* An engine log callback (spark_log_fn) that forwards to rp_log. */
void rp_log_engine(void *user, int level, const char *line);

#endif
