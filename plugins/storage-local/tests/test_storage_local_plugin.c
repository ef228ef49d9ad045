/* The built storage-local plugin (argv[1], loaded with dlopen) through its entry and ops,
 * with the fake engine of tests/support/fake_host.h: only the entry symbol is exported,
 * descriptor,
 * activation rules for the root, write/commit/abort, url_cap too small, reads (blob media
 * type and file name, NOT_FOUND naming the path), and refusals posted as errors. */
#include "check.h"
#include "plugin_checks.h"

#include <spark/ext/alloc.h>
#include <spark/plugin.h>

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fake_host.h"
#include "temp_dir.h"

static const spark_entry *entry;
static const spark_storage_desc *desc;
static const spark_storage_ops *ops;

static void test_descriptor(void)
{
    CHECK_INT_EQ(entry->abi.major, SPARK_ABI_MAJOR);
    CHECK_STR_EQ(entry->name, "storage-local");
    CHECK(entry->get_factory(SPARK_FACTORY_NODE) == NULL);
    const spark_storage_factory *factory = entry->get_factory(SPARK_FACTORY_STORAGE);
    CHECK(factory != NULL);
    if (!factory)
        return;
    CHECK_INT_EQ(factory->backend_count, 1);
    desc = factory->backends[0];
    ops = desc->ops;
    CHECK_STR_EQ(desc->id, "org.sparkhost.storage.local");
    CHECK_STR_EQ(desc->schemes[0], "file");
    CHECK_STR_EQ(desc->schemes[1], "");
    CHECK(desc->schemes[2] == NULL);
    CHECK_INT_EQ(desc->param_count, 3);
    CHECK_STR_EQ(desc->params[0].key, "root");
    CHECK_INT_EQ(desc->params[0].type, SPARK_PARAM_URL);
    CHECK_STR_EQ(desc->params[0].default_value, ".");
    CHECK_STR_EQ(desc->params[1].key, "create_root");
    CHECK_STR_EQ(desc->params[1].default_value, "false");
    CHECK_STR_EQ(desc->params[2].key, "durable");
    CHECK_STR_EQ(desc->params[2].default_value, "true");
    CHECK(ops->create && ops->read && ops->write_begin && ops->write && ops->write_commit &&
          ops->write_abort && ops->destroy);
}

/* create + configure(root, create_root) + activate; returns the first failing status. */
static spark_status open_backend(const char *root, const char *create_root, void **out)
{
    const char *const settings[] = {
        "root", root, "create_root", create_root, "durable", "true", NULL,
    };
    fake_params *params = fake_params_new(desc->params, desc->param_count, settings);
    CHECK(params != NULL);
    CHECK_INT_EQ(ops->create(fake_host(), desc->id, out), SPARK_OK);
    if (!params)
        return SPARK_E_INTERNAL;
    spark_status status = ops->configure(*out, fake_params_api(params));
    fake_params_free(params); /* configure's values are borrowed until it returns */
    if (status != SPARK_OK)
        return status;
    return ops->activate(*out);
}

static void test_activation(const char *base)
{
    void *self;
    char *missing = path_join(base, "missing-root");

    /* A missing root fails clearly, naming it, unless create_root is set. */
    fake_log_clear();
    CHECK_INT_EQ(open_backend(missing, "false", &self), SPARK_E_NOT_FOUND);
    CHECK_INT_EQ(fake_error_count(), 1);
    CHECK_STR_CONTAINS(fake_last_error(), missing);
    CHECK_STR_CONTAINS(fake_last_error(), "does not exist");
    ops->destroy(self);
    CHECK(!path_exists(missing));

    CHECK_INT_EQ(open_backend(missing, "true", &self), SPARK_OK);
    CHECK(path_exists(missing));
    ops->deactivate(self);
    ops->destroy(self);

    /* A root that is a file. */
    char *file = path_join(base, "a-file");
    CHECK(file_write(file, "x", 1) == 0);
    CHECK_INT_EQ(open_backend(file, "true", &self), SPARK_E_INVALID_ARGUMENT);
    CHECK_STR_CONTAINS(fake_last_error(), "not a directory");
    ops->destroy(self);

    /* A root of another scheme is refused at configure. */
    CHECK_INT_EQ(open_backend("s3://bucket", "false", &self), SPARK_E_INVALID_ARGUMENT);
    CHECK_STR_CONTAINS(fake_last_error(), "s3://bucket");
    ops->destroy(self);

    /* A relative root is relative to the working directory at configure time. */
    char *cwd = getcwd(NULL, 0);
    const char *const relative[] = { "root", "relative-root", "create_root", "true", NULL };
    fake_params *params = fake_params_new(desc->params, desc->param_count, relative);
    CHECK(params != NULL);
    CHECK(chdir(base) == 0);
    CHECK_INT_EQ(ops->create(fake_host(), desc->id, &self), SPARK_OK);
    CHECK_INT_EQ(ops->configure(self, fake_params_api(params)), SPARK_OK);
    fake_params_free(params);
    CHECK(chdir("/") == 0);
    CHECK_INT_EQ(ops->activate(self), SPARK_OK);
    char *made = path_join(base, "relative-root");
    CHECK(path_exists(made));
    ops->destroy(self);
    CHECK(chdir(cwd) == 0);

    /* destroy is legal right after create. */
    CHECK_INT_EQ(ops->create(fake_host(), desc->id, &self), SPARK_OK);
    ops->destroy(self);

    free(made);
    free(cwd);
    free(file);
    free(missing);
}

static spark_status write_object(void *self, const char *url, const char *text, char *url_out,
                                 uint32_t url_cap)
{
    void *writer = NULL;
    spark_status status = ops->write_begin(self, NULL, url, "audio/wav", &writer);
    if (status != SPARK_OK)
        return status;
    status = ops->write(self, writer, text, strlen(text));
    if (status != SPARK_OK) {
        ops->write_abort(self, writer);
        return status;
    }
    return ops->write_commit(self, writer, url_out, url_cap);
}

static void test_write_and_read(const char *root)
{
    void *self;
    char url[4096];
    CHECK_INT_EQ(open_backend(root, "false", &self), SPARK_OK);
    char *real_root = realpath(root, NULL);

    /* Commit writes the file:// URL of the real absolute path. */
    CHECK_INT_EQ(write_object(self, "jobs/1/speech.wav", "RIFF....WAVE", url, sizeof url),
                 SPARK_OK);
    char *want_path = path_join(real_root, "jobs/1/speech.wav");
    char want_url[4096];
    snprintf(want_url, sizeof want_url, "file://%s", want_path);
    CHECK_STR_EQ(url, want_url);
    char *content = file_read(want_path, NULL);
    CHECK_STR_EQ(content, "RIFF....WAVE");
    free(content);

    /* Reading it back, by plain name and by the URL commit gave. */
    spark_packet *blob = NULL;
    CHECK_INT_EQ(ops->read(self, NULL, "jobs/1/speech.wav", &blob), SPARK_OK);
    CHECK(blob != NULL);
    if (blob) {
        CHECK_INT_EQ(blob->kind, SPARK_KIND_BLOB);
        CHECK_INT_EQ(blob->data.blob.size, 12);
        CHECK(memcmp(blob->data.blob.bytes, "RIFF....WAVE", 12) == 0);
        CHECK_STR_EQ(blob->data.blob.media_type, "audio/wav");
        CHECK_STR_EQ(blob->data.blob.file_name, "speech.wav");
    }
    const spark_ext_alloc *alloc = fake_host()->get_extension(fake_host(), SPARK_EXT_ALLOC);
    alloc->release(blob);
    blob = NULL;
    CHECK_INT_EQ(ops->read(self, NULL, url, &blob), SPARK_OK);
    alloc->release(blob);

    /* Media types from the extension; empty files. */
    CHECK_INT_EQ(write_object(self, "notes.TXT", "hello", url, sizeof url), SPARK_OK);
    CHECK_INT_EQ(ops->read(self, NULL, "notes.TXT", &blob), SPARK_OK);
    CHECK_STR_EQ(blob->data.blob.media_type, "text/plain");
    alloc->release(blob);
    CHECK_INT_EQ(write_object(self, "data.bin", "", url, sizeof url), SPARK_OK);
    CHECK_INT_EQ(ops->read(self, NULL, "data.bin", &blob), SPARK_OK);
    CHECK_STR_EQ(blob->data.blob.media_type, "application/octet-stream");
    CHECK_INT_EQ(blob->data.blob.size, 0);
    alloc->release(blob);

    /* A missing file: NOT_FOUND, the message names the path and the reason. */
    fake_log_clear();
    blob = NULL;
    CHECK_INT_EQ(ops->read(self, NULL, "jobs/none.wav", &blob), SPARK_E_NOT_FOUND);
    CHECK(blob == NULL);
    CHECK_INT_EQ(fake_error_count(), 1);
    char *missing_path = path_join(real_root, "jobs/none.wav");
    CHECK_STR_CONTAINS(fake_last_error(), missing_path);
    CHECK_STR_CONTAINS(fake_last_error(), "No such file or directory");
    free(missing_path);

    /* Reading a directory is an I/O error naming it. */
    CHECK_INT_EQ(ops->read(self, NULL, "jobs/1", &blob), SPARK_E_IO);
    CHECK_STR_CONTAINS(fake_last_error(), "not a regular file");

    /* Refused names: INVALID_ARGUMENT, the message names the URL and the rule. */
    void *writer = NULL;
    CHECK_INT_EQ(ops->write_begin(self, NULL, "../escape.wav", "audio/wav", &writer),
                 SPARK_E_INVALID_ARGUMENT);
    CHECK(writer == NULL);
    CHECK_STR_CONTAINS(fake_last_error(), "../escape.wav");
    CHECK_STR_CONTAINS(fake_last_error(), "outside the storage root");
    CHECK_INT_EQ(ops->read(self, NULL, "/etc/passwd", &blob), SPARK_E_INVALID_ARGUMENT);
    CHECK_STR_CONTAINS(fake_last_error(), "/etc/passwd");
    CHECK_INT_EQ(ops->read(self, NULL, "file:name.wav", &blob), SPARK_E_INVALID_ARGUMENT);
    CHECK_INT_EQ(ops->write_begin(self, NULL, "out/", "audio/wav", &writer),
                 SPARK_E_INVALID_ARGUMENT);
    CHECK_INT_EQ(ops->write_begin(self, NULL, "", "audio/wav", &writer),
                 SPARK_E_INVALID_ARGUMENT);

    /* url_cap too small: an error, and nothing at all left in the directory. */
    char *small_dir = path_join(real_root, "small");
    CHECK(mkdir(small_dir, 0755) == 0);
    char tiny[16];
    fake_log_clear();
    CHECK_INT_EQ(write_object(self, "small/x.wav", "data", tiny, sizeof tiny),
                 SPARK_E_INVALID_ARGUMENT);
    CHECK_INT_EQ(fake_error_count(), 1);
    CHECK_STR_CONTAINS(fake_last_error(), "URL");
    CHECK_INT_EQ(dir_count(small_dir), 0);
    /* Exactly the room needed (URL plus NUL) is enough. */
    char *exact_path = path_join(small_dir, "x.wav");
    size_t need = strlen("file://") + strlen(exact_path) + 1;
    CHECK_INT_EQ(write_object(self, "small/x.wav", "data", url, (uint32_t)need), SPARK_OK);
    CHECK_INT_EQ(strlen(url) + 1, need);
    CHECK_INT_EQ(write_object(self, "small/y.wav", "data", url, (uint32_t)need), SPARK_OK);
    CHECK_INT_EQ(write_object(self, "small/yy.wav", "data", url, (uint32_t)need),
                 SPARK_E_INVALID_ARGUMENT);
    CHECK_INT_EQ(dir_count(small_dir), 2);
    free(exact_path);

    /* Abort leaves nothing. */
    CHECK_INT_EQ(ops->write_begin(self, NULL, "small/aborted.wav", "audio/wav", &writer),
                 SPARK_OK);
    CHECK_INT_EQ(ops->write(self, writer, "abc", 3), SPARK_OK);
    CHECK_INT_EQ(dir_count(small_dir), 3);
    ops->write_abort(self, writer);
    CHECK_INT_EQ(dir_count(small_dir), 2);
    free(small_dir);

    CHECK_INT_EQ(fake_live_packets(), 0);
    ops->deactivate(self);
    ops->destroy(self);
    free(want_path);
    free(real_root);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PATH-TO-storage-local.so\n", argv[0]);
        return 2;
    }
    static const char *const internal[] = { "storage_local_ops", "local_resolve", NULL };
    fake_plugin plugin;
    entry = check_load_plugin(&plugin, argv[1], internal);
    if (!entry)
        return CHECK_DONE();
    test_descriptor();
    if (!ops)
        return CHECK_DONE();
    char *base = temp_dir_create();
    CHECK(base != NULL);
    test_activation(base);
    char *root = path_join(base, "root");
    CHECK(mkdir(root, 0755) == 0);
    test_write_and_read(root);
    temp_dir_remove(base);
    free(root);
    free(base);
    fake_plugin_unload(&plugin);
    return CHECK_DONE();
}
