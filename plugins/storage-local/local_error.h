/* local_error.h - outcome and message of the local storage helpers (no SDK types here, so
 * the unit tests link these files directly; storage_local.c maps them to spark_status). */
#ifndef STORAGE_LOCAL_ERROR_H
#define STORAGE_LOCAL_ERROR_H

#include <stddef.h>

typedef enum local_status {
    LOCAL_OK = 0,
    LOCAL_E_INVALID = 1,   /* the name breaks a rule (maps to SPARK_E_INVALID_ARGUMENT) */
    LOCAL_E_NOT_FOUND = 2, /* SPARK_E_NOT_FOUND */
    LOCAL_E_IO = 3,        /* SPARK_E_IO */
    LOCAL_E_NO_MEMORY = 4  /* SPARK_E_NO_MEMORY */
} local_status;

/* Filled by the failing call; one per call, so concurrent calls never share one. */
typedef struct local_error {
    local_status status;
    char message[1536];
} local_error;

/* Record status and a printf-style message in err (which may be NULL); returns status. */
local_status local_fail(local_error *err, local_status status, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

/* Thread-safe strerror: the text for errnum, written into buf. */
const char *local_strerror(int errnum, char *buf, size_t cap);

/* LOCAL_E_NOT_FOUND for errno values that mean "nothing there", LOCAL_E_IO otherwise. */
local_status local_status_from_errno(int errnum);

#endif
