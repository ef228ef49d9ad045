/* The node descriptors of the test-nodes plugin (ids org.sparkhost.test.*). */
#ifndef SPARK_TEST_NODES_H
#define SPARK_TEST_NODES_H

#include <spark/plugin.h>

#define TEST_NODES_VERSION "1.0.0"

extern const spark_node_desc test_source_desc;
extern const spark_node_desc test_text_source_desc;
extern const spark_node_desc test_sink_desc;
extern const spark_node_desc test_fail_activate_desc;
extern const spark_node_desc test_fail_process_desc;
extern const spark_node_desc test_slow_desc;
extern const spark_node_desc test_passthrough_desc;

#endif
