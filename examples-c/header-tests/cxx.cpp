// The header compiles as C++ (cpp_compat: extern "C" guards) and links against the library.
#include <promrw.h>
#include <promrw.h> // the include guard makes a second include harmless

#include <cstdio>
#include <cstring>

#if PROMRW_VERSION_NUMBER != PROMRW_VERSION_MAJOR * 10000 + PROMRW_VERSION_MINOR * 100 + PROMRW_VERSION_PATCH
#error "PROMRW_VERSION_NUMBER is inconsistent"
#endif

int main()
{
    promrw_config *cfg = nullptr;
    promrw_error *err = nullptr;
    const char yaml[] = "remote_write: []\n";
    promrw_status status = promrw_config_from_yaml(yaml, sizeof yaml - 1, &cfg, &err);
    if (status != PROMRW_INVALID_CONFIG || err == nullptr ||
        std::strstr(promrw_error_message(err), "endpoint") == nullptr) {
        std::fprintf(stderr, "cxx: unexpected result %u\n", static_cast<unsigned>(status));
        return 1;
    }
    promrw_error_free(err);
    promrw_config_free(cfg);
    promrw_stats stats = promrw_stats();
    promrw_label label = {"__name__", 8, "up", 2};
    (void)label;
    std::printf("cxx: promrw %s, status names ok: %s, stats zeroed: %d\n", promrw_version(),
                promrw_status_str(PROMRW_OK), static_cast<int>(stats.samples_acked == 0));
    return 0;
}
