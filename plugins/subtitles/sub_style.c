/* sub_style.c - colour forms, font names and file name stems. */
#include "sub_style.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

static int all_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]))
            return 0;
    return 1;
}

int sub_parse_colour(const char *text, char out[11])
{
    if (!text)
        return -1;
    size_t n = strlen(text);
    char hex[9];
    if (n >= 2 && (text[0] == '&') && (text[1] == 'H' || text[1] == 'h')) {
        const char *h = text + 2;
        size_t digits = n - 2;
        if (digits > 0 && h[digits - 1] == '&')
            digits--;
        if ((digits != 8 && digits != 6) || !all_hex(h, digits))
            return -1;
        snprintf(hex, sizeof hex, "%s%.*s", digits == 6 ? "00" : "", (int)digits, h);
    } else if (n >= 1 && text[0] == '#' && (n == 7 || n == 9) && all_hex(text + 1, n - 1)) {
        unsigned r, g, b, a = 255;
        sscanf(text + 1, "%2x%2x%2x", &r, &g, &b);
        if (n == 9)
            sscanf(text + 7, "%2x", &a);
        snprintf(hex, sizeof hex, "%02X%02X%02X%02X", 255 - a, b, g, r);
    } else {
        return -1;
    }
    for (char *p = hex; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    snprintf(out, 11, "&H%s", hex);
    return 0;
}

int sub_check_font(const char *name)
{
    if (!name || !*name)
        return -1;
    for (const char *p = name; *p; p++)
        if (*p == ',' || (unsigned char)*p < 0x20 || *p == 0x7F)
            return -1;
    return 0;
}

int sub_check_file_stem(const char *stem)
{
    size_t n = stem ? strlen(stem) : 0;
    if (n == 0 || n > 100 || stem[0] == '.')
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)stem[i];
        if (!isalnum(c) && c != '.' && c != '_' && c != '-')
            return -1;
    }
    return 0;
}
