// SPDX-License-Identifier: Apache-2.0
// tracefs: libbpf resolves tracepoint and legacy kprobe ids through it, so mount it if absent.
#include "peregrine.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/mount.h>

/* mountTracefs(path): mount -t tracefs nodev PATH (root only) */
static napi_value mount_tracefs(napi_env env, napi_callback_info info)
{
	napi_value argv[1];
	char *path;

	NAPI_CALL(env, pg_get_args(env, info, 1, argv));
	path = pg_get_string(env, argv[0]);
	if (!path)
		return NULL;
	if (mount("nodev", path, "tracefs", 0, NULL) && errno != EBUSY)
		pg_throw_errno(env, "mount tracefs", path, errno, NULL);
	free(path);
	return NULL;
}

napi_status pg_tracefs_init(napi_env env, napi_value exports)
{
	PG_EXPORT(env, exports, "mountTracefs", mount_tracefs);
	return napi_ok;
}
