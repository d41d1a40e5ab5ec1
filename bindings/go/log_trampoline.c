// C side of the log callback: adapts promrw_log_fn / promrw_free_user_data_fn to the Go
// functions exported in log_export.go, carrying a runtime/cgo.Handle as user_data.
#include <stddef.h>
#include <stdint.h>

#include "promrw_cgo.h"
#include "_cgo_export.h"

static void promrw_go_log_trampoline(void *user_data, uint32_t level, const char *message,
                                     size_t message_len)
{
    promrwGoLog((uintptr_t)user_data, level, (char *)message, message_len);
}

static void promrw_go_free_trampoline(void *user_data)
{
    promrwGoFreeLog((uintptr_t)user_data);
}

promrw_status promrw_go_set_log(promrw_config *cfg, uint32_t min_level, uintptr_t handle)
{
    return promrw_config_set_log_callback(cfg, min_level, promrw_go_log_trampoline,
                                          (void *)handle, promrw_go_free_trampoline);
}
