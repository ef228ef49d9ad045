/* What the safetensors tests share: malformed files, each with the words its error message
 * must contain, and raw files from a header text. */
#ifndef SPARK_NN_SAFETENSORS_TEST_FILES_H
#define SPARK_NN_SAFETENSORS_TEST_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct st_bad_file {
    const char *label;      /* also the file name, with ".safetensors" */
    const char *header;     /* the header text, NUL-terminated (no NUL inside) */
    uint64_t data_size;     /* bytes of data after the header */
    bool set_length;        /* write length as the header length, not the header's own */
    uint64_t length;
    bool truncate;          /* cut the file to file_size bytes */
    size_t file_size;
    const char *expect[3];  /* substrings of the error message */
    bool library_rejects;   /* the safetensors library refuses it too */
} st_bad_file;

extern const st_bad_file st_bad_files[];
extern const size_t st_bad_file_count;

/* Writes the file as dir/<label>.safetensors, its path (malloc'd) in *path; 0, or -1 when it
 * could not be written. */
int st_save_bad_file(const st_bad_file *bad, const char *dir, char **path);

/* A safetensors file from a header text and data bytes (the length field is the header's). */
int st_write_safetensors(const char *path, const char *header, const void *data,
                         size_t data_size);

#endif
