/* espeak_say TEXT OUT.wav OUT.words: speech for a test, with espeak-ng's word starts
 * ("seconds byte_offset" per line). */
#include "espeak_speech.h"

#include <stdio.h>

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: espeak_say TEXT OUT.wav OUT.words\n");
        return 2;
    }
    espeak_speech speech;
    if (espeak_speech_open("en") < 0 || espeak_speech_say(argv[1], &speech) < 0)
        return 1;
    int rc = espeak_speech_write(&speech, argv[2], argv[3]);
    espeak_speech_free(&speech);
    espeak_speech_close();
    return rc < 0 ? 1 : 0;
}
