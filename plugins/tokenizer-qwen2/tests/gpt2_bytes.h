/* The GPT-2 byte -> code point table, written out independently of the implementation, for
 * the tests that build small tokenizer files by hand. */
#ifndef QWEN2_TEST_GPT2_BYTES_H
#define QWEN2_TEST_GPT2_BYTES_H

#include <string.h>

/* The UTF-8 of the character that stands for byte b (NUL-terminated in out[3]). */
static inline void byte_char(int b, char out[3])
{
    int cp = b, extra = 0;
    if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174)) {
        for (int i = 0; i < b; i++)
            if (!((i >= 33 && i <= 126) || (i >= 161 && i <= 172) || i >= 174))
                extra++;
        cp = 256 + extra;
    }
    memset(out, 0, 3);
    if (cp < 0x80)
        out[0] = (char)cp;
    else {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
    }
}

#endif
