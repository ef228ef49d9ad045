/* timings_json.c - the WhisperX-shaped document, built with cJSON. */
#include "timings_json.h"

#include <math.h>

#include <cjson/cJSON.h>

static double ms_round(double seconds)
{
    return round(seconds * 1000.0) / 1000.0;
}

static cJSON *word_object(const timed_word *w)
{
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddStringToObject(o, "word", w->text) ||
        !cJSON_AddNumberToObject(o, "start", ms_round(w->start)) ||
        !cJSON_AddNumberToObject(o, "end", ms_round(w->end)) ||
        !cJSON_AddNumberToObject(o, "score", ms_round(w->score))) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* Appends item to array; deletes item when that fails. */
static int append(cJSON *array, cJSON *item)
{
    if (item && cJSON_AddItemToArray(array, item))
        return 1;
    cJSON_Delete(item);
    return 0;
}

char *timings_json(const timed_segment *segments, size_t count)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *list = root ? cJSON_AddArrayToObject(root, "segments") : NULL;
    cJSON *flat = root ? cJSON_AddArrayToObject(root, "word_segments") : NULL;
    if (!list || !flat)
        goto fail;
    for (size_t s = 0; s < count; s++) {
        const timed_segment *seg = &segments[s];
        cJSON *o = cJSON_CreateObject();
        if (!append(list, o))
            goto fail;
        if (!cJSON_AddNumberToObject(o, "start", ms_round(seg->start)) ||
            !cJSON_AddNumberToObject(o, "end", ms_round(seg->end)) ||
            !cJSON_AddStringToObject(o, "text", seg->text))
            goto fail;
        cJSON *words = cJSON_AddArrayToObject(o, "words");
        if (!words)
            goto fail;
        for (size_t w = 0; w < seg->word_count; w++)
            if (!append(words, word_object(&seg->words[w])) ||
                !append(flat, word_object(&seg->words[w])))
                goto fail;
    }
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return text;
fail:
    cJSON_Delete(root);
    return NULL;
}
