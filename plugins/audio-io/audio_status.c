#include "audio_status.h"

#include <stdarg.h>
#include <stdio.h>

void audio_message(char *message, size_t capacity, const char *format, ...)
{
    if (!message || capacity == 0)
        return;
    va_list args;
    va_start(args, format);
    int written = vsnprintf(message, capacity, format, args);
    va_end(args);
    if (written < 0)
        message[0] = '\0';
}
