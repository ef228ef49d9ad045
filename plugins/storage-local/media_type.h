/* media_type.h - media type of a stored object, guessed from its file extension. */
#ifndef STORAGE_LOCAL_MEDIA_TYPE_H
#define STORAGE_LOCAL_MEDIA_TYPE_H

/* "audio/wav" for "x/speech.WAV", ...; "application/octet-stream" when unknown. Static. */
const char *local_media_type(const char *name);

/* The last component of a path ("speech.wav" for "a/b/speech.wav"); points into path. */
const char *local_base_name(const char *path);

#endif
