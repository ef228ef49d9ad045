/*
 * encode_reference.h - a reference recording to a voice: channel 0 at any rate, resampled to
 * the codec's rate (libsamplerate through audio-io), checked (at least 0.1 s, not silent),
 * volume-normalised as upstream, then the 6 s clip to the 32 global codes, and with a
 * transcript the whole normalised reference to its semantic codes. Free of SDK types.
 */
#ifndef ENCODE_REFERENCE_H
#define ENCODE_REFERENCE_H

#include <stddef.h>
#include <stdint.h>

#include <spark/nn/bicodec_encoder.h>

#include "encode_voice.h"

/* Reads an audio file (anything libsndfile decodes) and keeps channel 0: *samples malloc'd.
 * Returns 0, or -1 with err naming the file and the problem. */
int encode_load_audio_file(const char *path, float **samples, size_t *frames, uint32_t *rate,
                           char *err, size_t err_size);

/* Encodes channel 0 of a reference (frames at rate) into out's codes and transcript
 * (transcript NULL or "": globals only). out->name and out->model_hash are left for the
 * caller. Returns 0, or -1 with err set: too short, silent, out of memory. */
int encode_reference_voice(nn_bicodec_encoder *encoder, const float *channel0, size_t frames,
                           uint32_t rate, const char *transcript, encode_voice *out, char *err,
                           size_t err_size);

#endif
