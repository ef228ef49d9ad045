/* Path resolution rules of the local storage backend: every refusal, the lexical forms that
 * are accepted, and symlinks inside the root that lead inside (fine) or outside (refused). */
#include "check.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "local_path.h"
#include "media_type.h"
#include "temp_dir.h"

static char *base;        /* scratch directory of this run */
static char *root_dir;    /* base/root: the storage root */
static char *outside_dir; /* base/outside: a directory beside the root */
static local_root root;

static void setup(void)
{
    base = temp_dir_create();
    CHECK(base != NULL);
    root_dir = path_join(base, "root");
    outside_dir = path_join(base, "outside");
    CHECK(mkdir(root_dir, 0755) == 0);
    CHECK(mkdir(outside_dir, 0755) == 0);

    char *p;
    p = path_join(outside_dir, "secret.txt");
    CHECK(file_write(p, "secret", 6) == 0);
    free(p);
    p = path_join(root_dir, "sub");
    CHECK(mkdir(p, 0755) == 0);
    free(p);
    p = path_join(root_dir, "sub/file.txt");
    CHECK(file_write(p, "inside", 6) == 0);
    free(p);

    /* Symlinks inside the root: to a directory outside (absolute and relative), to a
     * directory inside, to files outside and inside, and one that leads nowhere. */
    p = path_join(root_dir, "link_out");
    CHECK(symlink(outside_dir, p) == 0);
    free(p);
    p = path_join(root_dir, "link_out_rel");
    CHECK(symlink("../outside", p) == 0);
    free(p);
    p = path_join(root_dir, "link_in");
    CHECK(symlink("sub", p) == 0);
    free(p);
    p = path_join(root_dir, "sub/link_up");
    CHECK(symlink("..", p) == 0); /* back to the root itself: still inside */
    free(p);
    p = path_join(root_dir, "file_link_out");
    char *target = path_join(outside_dir, "secret.txt");
    CHECK(symlink(target, p) == 0);
    free(target);
    free(p);
    p = path_join(root_dir, "file_link_in");
    CHECK(symlink("sub/file.txt", p) == 0);
    free(p);
    p = path_join(root_dir, "dangling");
    char *nowhere = path_join(base, "nowhere");
    CHECK(symlink(nowhere, p) == 0);
    free(nowhere);
    free(p);

    char *abs = NULL;
    local_error err;
    CHECK_INT_EQ(local_root_absolute(root_dir, &abs, &err), LOCAL_OK);
    CHECK_INT_EQ(local_root_open(abs, false, &root, &err), LOCAL_OK);
    free(abs);
}

/* Parse name; expect success with the given relative path. */
static void expect_rel(const char *name, const char *want)
{
    char *rel = NULL;
    local_error err = {0};
    local_status status = local_name_parse(&root, name, strlen(name), &rel, &err);
    if (status != LOCAL_OK)
        fprintf(stderr, "  \"%s\" refused: %s\n", name, err.message);
    CHECK_INT_EQ(status, LOCAL_OK);
    CHECK_STR_EQ(rel, want);
    free(rel);
}

/* Parse name[0..len); expect a refusal naming the URL and containing rule. */
static void expect_refused_len(const char *name, size_t len, const char *rule)
{
    char *rel = NULL;
    local_error err = {0};
    CHECK_INT_EQ(local_name_parse(&root, name, len, &rel, &err), LOCAL_E_INVALID);
    CHECK(rel == NULL);
    CHECK_INT_EQ(err.status, LOCAL_E_INVALID);
    CHECK_STR_CONTAINS(err.message, rule);
    if (len > 0)
        CHECK_STR_CONTAINS(err.message, name); /* up to a NUL: the visible part */
}

static void expect_refused(const char *name, const char *rule)
{
    expect_refused_len(name, strlen(name), rule);
}

static char *under_root(const char *name)
{
    return path_join(root.real, name);
}

static char *file_url(const char *abs)
{
    size_t len = strlen("file://") + strlen(abs) + 1;
    char *url = malloc(len);
    snprintf(url, len, "file://%s", abs);
    return url;
}

static void test_lexical_accepts(void)
{
    expect_rel("dir/name.wav", "dir/name.wav");
    expect_rel("name.wav", "name.wav");
    expect_rel("./a//b/./c.wav", "a/b/c.wav");
    expect_rel("a/../b.wav", "b.wav");
    expect_rel("a/b/../../c.wav", "c.wav");
    expect_rel("with:colon.wav", "with:colon.wav"); /* no "//": not a scheme */

    char *abs = under_root("dir/x.wav");
    expect_rel(abs, "dir/x.wav");
    char *url = file_url(abs);
    expect_rel(url, "dir/x.wav");
    free(url);
    free(abs);

    /* ".." that stays inside the root is fine in absolute names too. */
    abs = under_root("a/../y.wav");
    expect_rel(abs, "y.wav");
    free(abs);

    /* The root as configured, through a symlink, is accepted as well as its real path. */
    char *alias = path_join(base, "root_alias");
    CHECK(symlink(root_dir, alias) == 0);
    local_root aliased;
    local_error err;
    CHECK_INT_EQ(local_root_open(alias, false, &aliased, &err), LOCAL_OK);
    CHECK_STR_EQ(aliased.real, root.real);
    CHECK_STR_EQ(aliased.given, alias);
    char *via_alias = path_join(alias, "z.wav");
    char *rel = NULL;
    CHECK_INT_EQ(local_name_parse(&aliased, via_alias, strlen(via_alias), &rel, &err), LOCAL_OK);
    CHECK_STR_EQ(rel, "z.wav");
    free(rel);
    free(via_alias);
    local_root_free(&aliased);
    free(alias);
}

static void test_lexical_refusals(void)
{
    expect_refused_len("", 0, "empty");
    expect_refused_len("a\0b.wav", 7, "NUL");
    expect_refused("dir/", "ends with '/'");
    expect_refused("/", "ends with '/'");
    expect_refused(".", "names a directory");
    expect_refused("a/..", "names a directory");
    expect_refused("../x.wav", "\"..\" would lead outside the storage root");
    expect_refused("a/../../x.wav", "\"..\" would lead outside the storage root");
    expect_refused("./../x.wav", "\"..\" would lead outside the storage root");
    expect_refused("file:name.wav", "file:///absolute/path");
    expect_refused("file:/abs.wav", "file:///absolute/path");
    expect_refused("file://host/x.wav", "file: URLs are absolute");
    expect_refused("file://relative/name.wav", "file: URLs are absolute");
    expect_refused("file://", "file: URLs are absolute");
    expect_refused("file:///etc/passwd", "outside the storage root");
    expect_refused("/etc/passwd", "outside the storage root");
    expect_refused("s3://bucket/key.wav", "scheme \"s3\" is not served");
    expect_refused("https://example.com/x.wav", "scheme \"https\" is not served");

    char *abs = under_root("../outside/secret.txt");
    expect_refused(abs, "outside the storage root");
    free(abs);
    /* A sibling that merely shares the root's spelling as a prefix is outside. */
    size_t len = strlen(root.real) + 16;
    char *sibling = malloc(len);
    snprintf(sibling, len, "%sx/f.wav", root.real);
    expect_refused(sibling, "outside the storage root");
    free(sibling);
    expect_refused(root.real, "names the storage root itself");
    char *url = file_url(root.real);
    size_t url_len = strlen(url) + 3;
    char *with_dot = malloc(url_len);
    snprintf(with_dot, url_len, "%s/.", url);
    expect_refused(with_dot, "names a directory");
    free(with_dot);
    free(url);

    char long_name[NAME_MAX + 16];
    memset(long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    expect_refused(long_name, "longer than");
}

static void test_path_is_under(void)
{
    CHECK(local_path_is_under("/a/b", "/a"));
    CHECK(local_path_is_under("/a", "/a"));
    CHECK(!local_path_is_under("/ab", "/a"));
    CHECK(!local_path_is_under("/", "/a"));
    CHECK(local_path_is_under("/anything", "/"));
}

/* Resolve name; expect status and (for failures) a message containing rule and the name. */
static void expect_resolve(const char *name, local_access access, local_status want,
                           const char *rule, local_target *out)
{
    local_target target;
    local_error err = {0};
    local_status status = local_resolve(&root, name, strlen(name), access, false, &target, &err);
    if (status != want)
        fprintf(stderr, "  \"%s\": got %d (%s)\n", name, (int)status, err.message);
    CHECK_INT_EQ(status, want);
    if (status != LOCAL_OK) {
        CHECK_STR_CONTAINS(err.message, name);
        if (rule)
            CHECK_STR_CONTAINS(err.message, rule);
        CHECK(target.dir == NULL && target.name == NULL && target.path == NULL);
    }
    if (out)
        *out = target;
    else
        local_target_free(&target);
}

static void test_symlinks(void)
{
    local_target target;
    char *want;

    /* Plain names inside. */
    expect_resolve("sub/file.txt", LOCAL_FOR_READ, LOCAL_OK, NULL, &target);
    want = under_root("sub/file.txt");
    CHECK_STR_EQ(target.path, want);
    CHECK_STR_EQ(target.name, "file.txt");
    free(want);
    local_target_free(&target);

    /* A directory symlink that stays inside: fine, and resolved to the real directory. */
    expect_resolve("link_in/file.txt", LOCAL_FOR_READ, LOCAL_OK, NULL, &target);
    want = under_root("sub");
    CHECK_STR_EQ(target.dir, want);
    free(want);
    local_target_free(&target);
    expect_resolve("sub/link_up/sub/file.txt", LOCAL_FOR_READ, LOCAL_OK, NULL, NULL);
    expect_resolve("link_in/new.txt", LOCAL_FOR_WRITE, LOCAL_OK, NULL, NULL);

    /* A file symlink that stays inside: read follows it, the name stays the caller's. */
    expect_resolve("file_link_in", LOCAL_FOR_READ, LOCAL_OK, NULL, &target);
    want = under_root("sub/file.txt");
    CHECK_STR_EQ(target.path, want);
    CHECK_STR_EQ(target.name, "file_link_in");
    free(want);
    local_target_free(&target);

    /* Symlinks leading outside: refused for reads and writes, nothing created outside. */
    const char *outside = "outside the storage root";
    expect_resolve("link_out/secret.txt", LOCAL_FOR_READ, LOCAL_E_INVALID, outside, NULL);
    expect_resolve("link_out_rel/secret.txt", LOCAL_FOR_READ, LOCAL_E_INVALID, outside, NULL);
    expect_resolve("link_out/new.txt", LOCAL_FOR_WRITE, LOCAL_E_INVALID, outside, NULL);
    expect_resolve("link_out/deeper/new.txt", LOCAL_FOR_WRITE, LOCAL_E_INVALID, outside, NULL);
    expect_resolve("link_out/missing.txt", LOCAL_FOR_READ, LOCAL_E_INVALID, outside, NULL);
    char *deeper = path_join(outside_dir, "deeper");
    CHECK(!path_exists(deeper));
    free(deeper);
    CHECK_INT_EQ(dir_count(outside_dir), 1);
    expect_resolve("file_link_out", LOCAL_FOR_READ, LOCAL_E_INVALID, outside, NULL);
    /* The same through an absolute name and a file: URL. */
    char *abs = under_root("link_out/secret.txt");
    expect_resolve(abs, LOCAL_FOR_READ, LOCAL_E_INVALID, outside, NULL);
    char *url = file_url(abs);
    expect_resolve(url, LOCAL_FOR_READ, LOCAL_E_INVALID, outside, NULL);
    free(url);
    free(abs);

    /* A dangling symlink: nothing is created through it; reading through it finds nothing. */
    expect_resolve("dangling/x.txt", LOCAL_FOR_WRITE, LOCAL_E_INVALID, "cannot be resolved", NULL);
    expect_resolve("dangling/x.txt", LOCAL_FOR_READ, LOCAL_E_NOT_FOUND, NULL, NULL);
    char *nowhere = path_join(base, "nowhere");
    CHECK(!path_exists(nowhere));
    free(nowhere);
}

static void test_missing_and_created(void)
{
    local_target target;

    /* Reads of missing names: NOT_FOUND naming the full path and the system's reason. */
    char *want = under_root("missing/dir/x.txt");
    expect_resolve("missing/dir/x.txt", LOCAL_FOR_READ, LOCAL_E_NOT_FOUND, want, NULL);
    expect_resolve("missing/dir/x.txt", LOCAL_FOR_READ, LOCAL_E_NOT_FOUND,
                   "No such file or directory", NULL);
    free(want);
    want = under_root("sub/none.txt");
    expect_resolve("sub/none.txt", LOCAL_FOR_READ, LOCAL_E_NOT_FOUND, want, NULL);
    free(want);
    expect_resolve("sub/file.txt/x", LOCAL_FOR_READ, LOCAL_E_NOT_FOUND, "Not a directory", NULL);
    char *missing_dir = under_root("missing");
    CHECK(!path_exists(missing_dir)); /* reads create nothing */
    free(missing_dir);

    /* Writes create the missing directories, mode 0755 (less the umask). */
    expect_resolve("new/deep/x.txt", LOCAL_FOR_WRITE, LOCAL_OK, NULL, &target);
    want = under_root("new/deep");
    CHECK_STR_EQ(target.dir, want);
    struct stat st;
    CHECK(stat(want, &st) == 0 && S_ISDIR(st.st_mode));
    mode_t mask = umask(022);
    umask(mask);
    CHECK_INT_EQ(st.st_mode & 0777, 0755 & ~mask);
    CHECK(!path_exists(target.path)); /* the file itself is the writer's business */
    free(want);
    local_target_free(&target);

    /* Durable mode walks the same way (and fsyncs the parents it changed). */
    local_error err;
    const char *name = "durable/a/b.txt";
    CHECK_INT_EQ(local_resolve(&root, name, strlen(name), LOCAL_FOR_WRITE, true, &target, &err),
                 LOCAL_OK);
    local_target_free(&target);

    /* Writing onto a directory, or below a file, is refused with the path named. */
    expect_resolve("sub", LOCAL_FOR_WRITE, LOCAL_E_INVALID, "is a directory", NULL);
    expect_resolve("sub/file.txt/x", LOCAL_FOR_WRITE, LOCAL_E_IO, "not a directory", NULL);
}

static void test_root(void)
{
    local_error err = {0};
    local_root r;
    char *abs = NULL;

    /* Relative roots join the working directory of the moment. */
    char *cwd = getcwd(NULL, 0);
    CHECK_INT_EQ(local_root_absolute("rel/dir", &abs, &err), LOCAL_OK);
    char *want = path_join(cwd, "rel/dir");
    CHECK_STR_EQ(abs, want);
    free(want);
    free(abs);
    free(cwd);
    CHECK_INT_EQ(local_root_absolute("file:///srv/out", &abs, &err), LOCAL_OK);
    CHECK_STR_EQ(abs, "/srv/out");
    free(abs);
    CHECK_INT_EQ(local_root_absolute("", &abs, &err), LOCAL_E_INVALID);
    CHECK_INT_EQ(local_root_absolute("file:rel", &abs, &err), LOCAL_E_INVALID);
    CHECK_STR_CONTAINS(err.message, "file:///absolute/path");
    CHECK_INT_EQ(local_root_absolute("s3://bucket/prefix", &abs, &err), LOCAL_E_INVALID);
    CHECK_STR_CONTAINS(err.message, "s3://bucket/prefix");

    /* Missing root: a clear failure unless create is set. */
    char *missing = path_join(base, "made/by/activate");
    CHECK_INT_EQ(local_root_open(missing, false, &r, &err), LOCAL_E_NOT_FOUND);
    CHECK_STR_CONTAINS(err.message, missing);
    CHECK_STR_CONTAINS(err.message, "does not exist");
    CHECK_STR_CONTAINS(err.message, "create_root");
    CHECK(!path_exists(missing));
    CHECK_INT_EQ(local_root_open(missing, true, &r, &err), LOCAL_OK);
    struct stat st;
    CHECK(stat(missing, &st) == 0 && S_ISDIR(st.st_mode));
    local_root_free(&r);
    free(missing);

    /* A root that is a file. */
    char *file = path_join(base, "plain-file");
    CHECK(file_write(file, "x", 1) == 0);
    CHECK_INT_EQ(local_root_open(file, false, &r, &err), LOCAL_E_INVALID);
    CHECK_STR_CONTAINS(err.message, file);
    CHECK_STR_CONTAINS(err.message, "not a directory");
    CHECK_INT_EQ(local_root_open(file, true, &r, &err), LOCAL_E_INVALID);
    free(file);
}

static void test_media_types(void)
{
    CHECK_STR_EQ(local_media_type("speech.wav"), "audio/wav");
    CHECK_STR_EQ(local_media_type("a/b/SPEECH.WAV"), "audio/wav");
    CHECK_STR_EQ(local_media_type("x.flac"), "audio/flac");
    CHECK_STR_EQ(local_media_type("x.ogg"), "audio/ogg");
    CHECK_STR_EQ(local_media_type("x.opus"), "audio/ogg");
    CHECK_STR_EQ(local_media_type("x.mp3"), "audio/mpeg");
    CHECK_STR_EQ(local_media_type("x.json"), "application/json");
    CHECK_STR_EQ(local_media_type("x.txt"), "text/plain");
    CHECK_STR_EQ(local_media_type("x.srt"), "application/octet-stream");
    CHECK_STR_EQ(local_media_type("noext"), "application/octet-stream");
    CHECK_STR_EQ(local_media_type(".wav"), "application/octet-stream");
    CHECK_STR_EQ(local_media_type("dir.wav/file"), "application/octet-stream");
    CHECK_STR_EQ(local_base_name("a/b/c.wav"), "c.wav");
    CHECK_STR_EQ(local_base_name("c.wav"), "c.wav");
}

int main(void)
{
    setup();
    test_lexical_accepts();
    test_lexical_refusals();
    test_path_is_under();
    test_symlinks();
    test_missing_and_created();
    test_root();
    test_media_types();
    local_root_free(&root);
    temp_dir_remove(base);
    free(root_dir);
    free(outside_dir);
    free(base);
    return CHECK_DONE();
}
