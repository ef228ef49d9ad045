/* sub_style.h - checking and normalising the ASS style parameters. */
#ifndef SUB_STYLE_H
#define SUB_STYLE_H

#include <stddef.h>

/* Colour text "&HAABBGGRR", "&HBBGGRR" (alpha 00 = opaque), "#RRGGBB" or "#RRGGBBAA" (AA =
 * opacity, FF = opaque) into "&HAABBGGRR" in out[11]. Returns 0, or -1 when malformed. */
int sub_parse_colour(const char *text, char out[11]);
/* 0 when name may go into a Style line: non-empty, no comma, no control character. */
int sub_check_font(const char *name);
/* 0 when stem is a plain file name stem: 1..100 of [A-Za-z0-9._-], not starting with '.'. */
int sub_check_file_stem(const char *stem);

#endif
