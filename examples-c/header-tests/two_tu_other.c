/* Second translation unit including promrw.h: the header defines no objects or functions,
 * so linking two units that include it must not give duplicate symbols. */
#include <promrw.h>

#include <string.h>

/* Defined here, used from two_tu_main.c. */
int other_unit_version_matches(void);

int other_unit_version_matches(void)
{
    return strcmp(promrw_status_str(PROMRW_QUEUE_FULL), "queue full") == 0 &&
           PROMRW_LOG_ERROR > PROMRW_LOG_DEBUG;
}
