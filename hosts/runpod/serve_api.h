/* --serve-api: a local HTTP server (libmicrohttpd) shaped like the platform's endpoint API, for
 * development without the platform: POST /run (queue and start a job), POST /runsync (run and
 * answer), GET|POST /status/{id}, GET|POST /stream/{id}, POST /cancel/{id}, GET /health. A
 * request may name a `webhook` URL; the job's record is POSTed there when it ends. Runs until
 * SIGINT/SIGTERM, then waits for the jobs in hand. */
#ifndef RP_SERVE_API_H
#define RP_SERVE_API_H

#include <spark/engine.h>

int rp_serve_api(spark_pipeline *pipeline, const char *host, unsigned port);

#endif
