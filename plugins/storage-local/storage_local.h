/* storage_local.h - the storage-backend operations of the local file system backend. */
#ifndef STORAGE_LOCAL_H
#define STORAGE_LOCAL_H

#include <spark/plugin.h>

/* Parameter keys, shared by the descriptor (plugin.c) and configure. */
#define STORAGE_LOCAL_PARAM_ROOT "root"
#define STORAGE_LOCAL_PARAM_CREATE_ROOT "create_root"
#define STORAGE_LOCAL_PARAM_DURABLE "durable"

extern const spark_storage_ops storage_local_ops;

#endif
