/*
 * The frozen layout of sparkhost ABI 1.x on LP64 (x86-64, aarch64): size and alignment of
 * every struct in the SDK headers, offset and size of every field, in declaration order.
 *
 * These numbers are the ABI. A change that moves one of them breaks every plugin already
 * built, so it needs a new SPARK_ABI_MAJOR; a minor version may only append fields at the end
 * of a struct that starts with struct_size (or use a reserved field of the same size).
 *
 * Users define ABI_STRUCT(type, size, align) and ABI_FIELD(type, field, offset, size) and
 * expand ABI_LAYOUT_TABLE. The fields of each struct are listed in order and cover it
 * without gaps: abi_layout.c checks that at run time, so no struct has a padding hole.
 */
#ifndef SPARK_TEST_ABI_LAYOUT_TABLE_H
#define SPARK_TEST_ABI_LAYOUT_TABLE_H

#define ABI_LAYOUT_TABLE                                                     \
    ABI_STRUCT(spark_version, 12, 4)                                         \
    ABI_FIELD(spark_version, major, 0, 4)                                    \
    ABI_FIELD(spark_version, minor, 4, 4)                                    \
    ABI_FIELD(spark_version, patch, 8, 4)                                    \
                                                                             \
    ABI_STRUCT(spark_timing_item, 48, 8)                                     \
    ABI_FIELD(spark_timing_item, level, 0, 4)                                \
    ABI_FIELD(spark_timing_item, reserved, 4, 4)                             \
    ABI_FIELD(spark_timing_item, start, 8, 8)                                \
    ABI_FIELD(spark_timing_item, end, 16, 8)                                 \
    ABI_FIELD(spark_timing_item, score, 24, 8)                               \
    ABI_FIELD(spark_timing_item, text_offset, 32, 8)                         \
    ABI_FIELD(spark_timing_item, text, 40, 8)                                \
                                                                             \
    ABI_STRUCT(spark_text_data, 24, 8)                                       \
    ABI_FIELD(spark_text_data, utf8, 0, 8)                                   \
    ABI_FIELD(spark_text_data, length, 8, 8)                                 \
    ABI_FIELD(spark_text_data, offset, 16, 8)                                \
                                                                             \
    ABI_STRUCT(spark_tokens_data, 24, 8)                                     \
    ABI_FIELD(spark_tokens_data, ids, 0, 8)                                  \
    ABI_FIELD(spark_tokens_data, count, 8, 8)                                \
    ABI_FIELD(spark_tokens_data, vocabulary, 16, 8)                          \
                                                                             \
    ABI_STRUCT(spark_codes_data, 48, 8)                                      \
    ABI_FIELD(spark_codes_data, semantic, 0, 8)                              \
    ABI_FIELD(spark_codes_data, n_semantic, 8, 8)                            \
    ABI_FIELD(spark_codes_data, global, 16, 8)                               \
    ABI_FIELD(spark_codes_data, n_global, 24, 8)                             \
    ABI_FIELD(spark_codes_data, codec, 32, 8)                                \
    ABI_FIELD(spark_codes_data, frame_rate, 40, 8)                           \
                                                                             \
    ABI_STRUCT(spark_audio_data, 32, 8)                                      \
    ABI_FIELD(spark_audio_data, planes, 0, 8)                                \
    ABI_FIELD(spark_audio_data, frames, 8, 8)                                \
    ABI_FIELD(spark_audio_data, channels, 16, 4)                             \
    ABI_FIELD(spark_audio_data, rate, 20, 4)                                 \
    ABI_FIELD(spark_audio_data, timestamp, 24, 8)                            \
                                                                             \
    ABI_STRUCT(spark_timing_data, 16, 8)                                     \
    ABI_FIELD(spark_timing_data, items, 0, 8)                                \
    ABI_FIELD(spark_timing_data, count, 8, 8)                                \
                                                                             \
    ABI_STRUCT(spark_blob_data, 32, 8)                                       \
    ABI_FIELD(spark_blob_data, bytes, 0, 8)                                  \
    ABI_FIELD(spark_blob_data, size, 8, 8)                                   \
    ABI_FIELD(spark_blob_data, media_type, 16, 8)                            \
    ABI_FIELD(spark_blob_data, file_name, 24, 8)                             \
                                                                             \
    ABI_STRUCT(spark_value_data, 32, 8)                                      \
    ABI_FIELD(spark_value_data, name, 0, 8)                                  \
    ABI_FIELD(spark_value_data, type, 8, 4)                                  \
    ABI_FIELD(spark_value_data, reserved, 12, 4)                             \
    ABI_FIELD(spark_value_data, text, 16, 8)                                 \
    ABI_FIELD(spark_value_data, number, 24, 8)                               \
                                                                             \
    /* data is a union of the payloads above padded by reserved[12] */       \
    ABI_STRUCT(spark_packet, 128, 8)                                         \
    ABI_FIELD(spark_packet, struct_size, 0, 4)                               \
    ABI_FIELD(spark_packet, kind, 4, 4)                                      \
    ABI_FIELD(spark_packet, seq, 8, 8)                                       \
    ABI_FIELD(spark_packet, host_data, 16, 8)                                \
    ABI_FIELD(spark_packet, data, 24, 96)                                    \
    ABI_FIELD(spark_packet, flags, 120, 4) /* 1.1 */                         \
    ABI_FIELD(spark_packet, reserved, 124, 4) /* 1.1 */                      \
                                                                             \
    ABI_STRUCT(spark_format, 32, 8)                                          \
    ABI_FIELD(spark_format, struct_size, 0, 4)                               \
    ABI_FIELD(spark_format, kind, 4, 4)                                      \
    ABI_FIELD(spark_format, rate, 8, 4)                                      \
    ABI_FIELD(spark_format, channels, 12, 4)                                 \
    ABI_FIELD(spark_format, frame_rate, 16, 8)                               \
    ABI_FIELD(spark_format, name, 24, 8)                                     \
                                                                             \
    ABI_STRUCT(spark_port_desc, 40, 8)                                       \
    ABI_FIELD(spark_port_desc, name, 0, 8)                                   \
    ABI_FIELD(spark_port_desc, direction, 8, 4)                              \
    ABI_FIELD(spark_port_desc, kind, 12, 4)                                  \
    ABI_FIELD(spark_port_desc, flags, 16, 4)                                 \
    ABI_FIELD(spark_port_desc, rate, 20, 4)                                  \
    ABI_FIELD(spark_port_desc, channels, 24, 4)                              \
    ABI_FIELD(spark_port_desc, reserved, 28, 4)                              \
    ABI_FIELD(spark_port_desc, doc, 32, 8)                                   \
                                                                             \
    ABI_STRUCT(spark_param_desc, 64, 8)                                      \
    ABI_FIELD(spark_param_desc, key, 0, 8)                                   \
    ABI_FIELD(spark_param_desc, type, 8, 4)                                  \
    ABI_FIELD(spark_param_desc, flags, 12, 4)                                \
    ABI_FIELD(spark_param_desc, default_value, 16, 8)                        \
    ABI_FIELD(spark_param_desc, min, 24, 8)                                  \
    ABI_FIELD(spark_param_desc, max, 32, 8)                                  \
    ABI_FIELD(spark_param_desc, max_length, 40, 4)                           \
    ABI_FIELD(spark_param_desc, reserved, 44, 4)                             \
    ABI_FIELD(spark_param_desc, choices, 48, 8)                              \
    ABI_FIELD(spark_param_desc, doc, 56, 8)                                  \
                                                                             \
    ABI_STRUCT(spark_result_desc, 24, 8)                                     \
    ABI_FIELD(spark_result_desc, name, 0, 8)                                 \
    ABI_FIELD(spark_result_desc, type, 8, 4)                                 \
    ABI_FIELD(spark_result_desc, reserved, 12, 4)                            \
    ABI_FIELD(spark_result_desc, doc, 16, 8)                                 \
                                                                             \
    ABI_STRUCT(spark_params, 56, 8)                                          \
    ABI_FIELD(spark_params, struct_size, 0, 4)                               \
    ABI_FIELD(spark_params, reserved, 4, 4)                                  \
    ABI_FIELD(spark_params, user, 8, 8)                                      \
    ABI_FIELD(spark_params, has, 16, 8)                                      \
    ABI_FIELD(spark_params, get_string, 24, 8)                               \
    ABI_FIELD(spark_params, get_integer, 32, 8)                              \
    ABI_FIELD(spark_params, get_number, 40, 8)                               \
    ABI_FIELD(spark_params, get_boolean, 48, 8)                              \
                                                                             \
    ABI_STRUCT(spark_host, 48, 8)                                            \
    ABI_FIELD(spark_host, struct_size, 0, 4)                                 \
    ABI_FIELD(spark_host, abi, 4, 12)                                        \
    ABI_FIELD(spark_host, name, 16, 8)                                       \
    ABI_FIELD(spark_host, version, 24, 8)                                    \
    ABI_FIELD(spark_host, host_data, 32, 8)                                  \
    ABI_FIELD(spark_host, get_extension, 40, 8)                              \
                                                                             \
    ABI_STRUCT(spark_job, 48, 8)                                             \
    ABI_FIELD(spark_job, struct_size, 0, 4)                                  \
    ABI_FIELD(spark_job, reserved, 4, 4)                                     \
    ABI_FIELD(spark_job, id, 8, 8)                                           \
    ABI_FIELD(spark_job, params, 16, 8)                                      \
    ABI_FIELD(spark_job, host_data, 24, 8)                                   \
    ABI_FIELD(spark_job, emit, 32, 8)                                        \
    ABI_FIELD(spark_job, post_result, 40, 8)                                 \
                                                                             \
    ABI_STRUCT(spark_node_ops, 80, 8)                                        \
    ABI_FIELD(spark_node_ops, struct_size, 0, 4)                             \
    ABI_FIELD(spark_node_ops, reserved, 4, 4)                                \
    ABI_FIELD(spark_node_ops, create, 8, 8)                                  \
    ABI_FIELD(spark_node_ops, configure, 16, 8)                              \
    ABI_FIELD(spark_node_ops, negotiate, 24, 8)                              \
    ABI_FIELD(spark_node_ops, activate, 32, 8)                               \
    ABI_FIELD(spark_node_ops, job_begin, 40, 8)                              \
    ABI_FIELD(spark_node_ops, process, 48, 8)                                \
    ABI_FIELD(spark_node_ops, job_end, 56, 8)                                \
    ABI_FIELD(spark_node_ops, deactivate, 64, 8)                             \
    ABI_FIELD(spark_node_ops, destroy, 72, 8)                                \
                                                                             \
    ABI_STRUCT(spark_node_desc, 96, 8)                                       \
    ABI_FIELD(spark_node_desc, struct_size, 0, 4)                            \
    ABI_FIELD(spark_node_desc, max_concurrent_jobs, 4, 4)                    \
    ABI_FIELD(spark_node_desc, id, 8, 8)                                     \
    ABI_FIELD(spark_node_desc, name, 16, 8)                                  \
    ABI_FIELD(spark_node_desc, version, 24, 8)                               \
    ABI_FIELD(spark_node_desc, description, 32, 8)                           \
    ABI_FIELD(spark_node_desc, features, 40, 8)                              \
    ABI_FIELD(spark_node_desc, port_count, 48, 4)                            \
    ABI_FIELD(spark_node_desc, param_count, 52, 4)                           \
    ABI_FIELD(spark_node_desc, ports, 56, 8)                                 \
    ABI_FIELD(spark_node_desc, params, 64, 8)                                \
    ABI_FIELD(spark_node_desc, result_count, 72, 4)                          \
    ABI_FIELD(spark_node_desc, reserved, 76, 4)                              \
    ABI_FIELD(spark_node_desc, results, 80, 8)                               \
    ABI_FIELD(spark_node_desc, ops, 88, 8)                                   \
                                                                             \
    ABI_STRUCT(spark_node_factory, 16, 8)                                    \
    ABI_FIELD(spark_node_factory, struct_size, 0, 4)                         \
    ABI_FIELD(spark_node_factory, node_count, 4, 4)                          \
    ABI_FIELD(spark_node_factory, nodes, 8, 8)                               \
                                                                             \
    ABI_STRUCT(spark_storage_ops, 88, 8)                                     \
    ABI_FIELD(spark_storage_ops, struct_size, 0, 4)                          \
    ABI_FIELD(spark_storage_ops, reserved, 4, 4)                             \
    ABI_FIELD(spark_storage_ops, create, 8, 8)                               \
    ABI_FIELD(spark_storage_ops, configure, 16, 8)                           \
    ABI_FIELD(spark_storage_ops, activate, 24, 8)                            \
    ABI_FIELD(spark_storage_ops, read, 32, 8)                                \
    ABI_FIELD(spark_storage_ops, write_begin, 40, 8)                         \
    ABI_FIELD(spark_storage_ops, write, 48, 8)                               \
    ABI_FIELD(spark_storage_ops, write_commit, 56, 8)                        \
    ABI_FIELD(spark_storage_ops, write_abort, 64, 8)                         \
    ABI_FIELD(spark_storage_ops, deactivate, 72, 8)                          \
    ABI_FIELD(spark_storage_ops, destroy, 80, 8)                             \
                                                                             \
    ABI_STRUCT(spark_storage_desc, 64, 8)                                    \
    ABI_FIELD(spark_storage_desc, struct_size, 0, 4)                         \
    ABI_FIELD(spark_storage_desc, param_count, 4, 4)                         \
    ABI_FIELD(spark_storage_desc, id, 8, 8)                                  \
    ABI_FIELD(spark_storage_desc, name, 16, 8)                               \
    ABI_FIELD(spark_storage_desc, version, 24, 8)                            \
    ABI_FIELD(spark_storage_desc, description, 32, 8)                        \
    ABI_FIELD(spark_storage_desc, schemes, 40, 8)                            \
    ABI_FIELD(spark_storage_desc, params, 48, 8)                             \
    ABI_FIELD(spark_storage_desc, ops, 56, 8)                                \
                                                                             \
    ABI_STRUCT(spark_storage_factory, 16, 8)                                 \
    ABI_FIELD(spark_storage_factory, struct_size, 0, 4)                      \
    ABI_FIELD(spark_storage_factory, backend_count, 4, 4)                    \
    ABI_FIELD(spark_storage_factory, backends, 8, 8)                         \
                                                                             \
    ABI_STRUCT(spark_entry, 64, 8)                                    \
    ABI_FIELD(spark_entry, struct_size, 0, 4)                         \
    ABI_FIELD(spark_entry, reserved, 4, 4)                            \
    ABI_FIELD(spark_entry, abi, 8, 12)                                \
    ABI_FIELD(spark_entry, reserved2, 20, 4)                          \
    ABI_FIELD(spark_entry, name, 24, 8)                               \
    ABI_FIELD(spark_entry, version, 32, 8)                            \
    ABI_FIELD(spark_entry, init, 40, 8)                               \
    ABI_FIELD(spark_entry, deinit, 48, 8)                             \
    ABI_FIELD(spark_entry, get_factory, 56, 8)                        \
                                                                             \
    ABI_STRUCT(spark_ext_alloc, 80, 8)                                       \
    ABI_FIELD(spark_ext_alloc, struct_size, 0, 4)                            \
    ABI_FIELD(spark_ext_alloc, reserved, 4, 4)                               \
    ABI_FIELD(spark_ext_alloc, text, 8, 8)                                   \
    ABI_FIELD(spark_ext_alloc, tokens, 16, 8)                                \
    ABI_FIELD(spark_ext_alloc, codes, 24, 8)                                 \
    ABI_FIELD(spark_ext_alloc, audio, 32, 8)                                 \
    ABI_FIELD(spark_ext_alloc, timing, 40, 8)                                \
    ABI_FIELD(spark_ext_alloc, blob, 48, 8)                                  \
    ABI_FIELD(spark_ext_alloc, value, 56, 8)                                 \
    ABI_FIELD(spark_ext_alloc, retain, 64, 8)                                \
    ABI_FIELD(spark_ext_alloc, release, 72, 8)                               \
                                                                             \
    ABI_STRUCT(spark_ext_log, 24, 8)                                         \
    ABI_FIELD(spark_ext_log, struct_size, 0, 4)                              \
    ABI_FIELD(spark_ext_log, reserved, 4, 4)                                 \
    ABI_FIELD(spark_ext_log, log, 8, 8)                                      \
    ABI_FIELD(spark_ext_log, error, 16, 8)                                   \
                                                                             \
    ABI_STRUCT(spark_ext_progress, 24, 8)                                    \
    ABI_FIELD(spark_ext_progress, struct_size, 0, 4)                         \
    ABI_FIELD(spark_ext_progress, reserved, 4, 4)                            \
    ABI_FIELD(spark_ext_progress, check, 8, 8)                               \
    ABI_FIELD(spark_ext_progress, report, 16, 8)                             \
                                                                             \
    ABI_STRUCT(spark_ext_storage, 48, 8)                                     \
    ABI_FIELD(spark_ext_storage, struct_size, 0, 4)                          \
    ABI_FIELD(spark_ext_storage, reserved, 4, 4)                             \
    ABI_FIELD(spark_ext_storage, read, 8, 8)                                 \
    ABI_FIELD(spark_ext_storage, write_begin, 16, 8)                         \
    ABI_FIELD(spark_ext_storage, write, 24, 8)                               \
    ABI_FIELD(spark_ext_storage, commit, 32, 8)                              \
    ABI_FIELD(spark_ext_storage, abort, 40, 8)

/* The members of spark_packet.data, each at offset 0 of the union. */
#define ABI_PACKET_UNION_TABLE                                               \
    ABI_UNION_MEMBER(text, 24)                                               \
    ABI_UNION_MEMBER(tokens, 24)                                             \
    ABI_UNION_MEMBER(codes, 48)                                              \
    ABI_UNION_MEMBER(audio, 32)                                              \
    ABI_UNION_MEMBER(timing, 16)                                             \
    ABI_UNION_MEMBER(blob, 32)                                               \
    ABI_UNION_MEMBER(value, 32)                                              \
    ABI_UNION_MEMBER(reserved, 96)

/* Values of the enums and macros that cross the ABI. */
#define ABI_CONSTANT_TABLE                                                   \
    ABI_CONSTANT(SPARK_OK, 0)                                                \
    ABI_CONSTANT(SPARK_NEED_MORE, 1)                                         \
    ABI_CONSTANT(SPARK_END_OF_STREAM, 2)                                     \
    ABI_CONSTANT(SPARK_E_INVALID_ARGUMENT, -1)                               \
    ABI_CONSTANT(SPARK_E_UNSUPPORTED, -2)                                    \
    ABI_CONSTANT(SPARK_E_FORMAT_MISMATCH, -3)                                \
    ABI_CONSTANT(SPARK_E_NOT_FOUND, -4)                                      \
    ABI_CONSTANT(SPARK_E_IO, -5)                                             \
    ABI_CONSTANT(SPARK_E_NO_MEMORY, -6)                                      \
    ABI_CONSTANT(SPARK_E_INVALID_MODEL, -7)                                  \
    ABI_CONSTANT(SPARK_E_DEVICE, -8)                                         \
    ABI_CONSTANT(SPARK_E_CANCELLED, -9)                                      \
    ABI_CONSTANT(SPARK_E_TIMEOUT, -10)                                       \
    ABI_CONSTANT(SPARK_E_INTERNAL, -11)                                      \
    ABI_CONSTANT(SPARK_KIND_TEXT, 1)                                         \
    ABI_CONSTANT(SPARK_KIND_TOKENS, 2)                                       \
    ABI_CONSTANT(SPARK_KIND_CODES, 3)                                        \
    ABI_CONSTANT(SPARK_KIND_AUDIO, 4)                                        \
    ABI_CONSTANT(SPARK_KIND_TIMING, 5)                                       \
    ABI_CONSTANT(SPARK_KIND_BLOB, 6)                                         \
    ABI_CONSTANT(SPARK_KIND_VALUE, 7)                                        \
    ABI_CONSTANT(SPARK_PACKET_PIECE_END, 1) /* 1.1 */                        \
    ABI_CONSTANT(SPARK_VALUE_STRING, 1)                                      \
    ABI_CONSTANT(SPARK_VALUE_INTEGER, 2)                                     \
    ABI_CONSTANT(SPARK_VALUE_NUMBER, 3)                                      \
    ABI_CONSTANT(SPARK_VALUE_BOOLEAN, 4)                                     \
    ABI_CONSTANT(SPARK_VALUE_JSON, 5)                                        \
    ABI_CONSTANT(SPARK_TIMING_SEGMENT, 0)                                    \
    ABI_CONSTANT(SPARK_TIMING_WORD, 1)                                       \
    ABI_CONSTANT(SPARK_PORT_IN, 1)                                           \
    ABI_CONSTANT(SPARK_PORT_OUT, 2)                                          \
    ABI_CONSTANT(SPARK_PORT_OPTIONAL, 0x1)                                   \
    ABI_CONSTANT(SPARK_PORT_NONE, 0xFFFFFFFF)                                \
    ABI_CONSTANT(SPARK_PARAM_STRING, 1)                                      \
    ABI_CONSTANT(SPARK_PARAM_INTEGER, 2)                                     \
    ABI_CONSTANT(SPARK_PARAM_NUMBER, 3)                                      \
    ABI_CONSTANT(SPARK_PARAM_BOOLEAN, 4)                                     \
    ABI_CONSTANT(SPARK_PARAM_ENUM, 5)                                        \
    ABI_CONSTANT(SPARK_PARAM_URL, 6)                                         \
    ABI_CONSTANT(SPARK_PARAM_REQUIRED, 0x1)                                  \
    ABI_CONSTANT(SPARK_PARAM_SECRET, 0x2)                                    \
    ABI_CONSTANT(SPARK_PARAM_PER_JOB, 0x4)                                   \
    ABI_CONSTANT(SPARK_PARAM_HAS_MIN, 0x8)                                   \
    ABI_CONSTANT(SPARK_PARAM_HAS_MAX, 0x10)                                  \
    ABI_CONSTANT(SPARK_LOG_ERROR, 0)                                         \
    ABI_CONSTANT(SPARK_LOG_WARN, 1)                                          \
    ABI_CONSTANT(SPARK_LOG_INFO, 2)                                          \
    ABI_CONSTANT(SPARK_LOG_DEBUG, 3)

/* The string ids that cross the ABI. */
#define ABI_STRING_TABLE                                                     \
    ABI_STRING(SPARK_ENTRY_SYMBOL, "spark_plugin_entry")                     \
    ABI_STRING(SPARK_FACTORY_NODE, "spark.factory.node/1")                   \
    ABI_STRING(SPARK_FACTORY_STORAGE, "spark.factory.storage/1")             \
    ABI_STRING(SPARK_EXT_LOG, "spark.ext.log/1")                             \
    ABI_STRING(SPARK_EXT_PROGRESS, "spark.ext.progress/1")                   \
    ABI_STRING(SPARK_EXT_ALLOC, "spark.ext.alloc/1")                         \
    ABI_STRING(SPARK_EXT_STORAGE, "spark.ext.storage/1")

#endif
