/* First translation unit including promrw.h (see two_tu_other.c). */
#include <promrw.h>

#include <stdio.h>
#include <string.h>

int other_unit_version_matches(void);

int main(void)
{
    char expected[32];
    sprintf(expected, "%d.%d.%d", PROMRW_VERSION_MAJOR, PROMRW_VERSION_MINOR,
            PROMRW_VERSION_PATCH);
    if (strcmp(promrw_version(), expected) != 0) {
        fprintf(stderr, "two_tu: library %s, header %s\n", promrw_version(), expected);
        return 1;
    }
    if (!other_unit_version_matches()) {
        fprintf(stderr, "two_tu: second unit disagrees\n");
        return 1;
    }
    printf("two_tu: two translation units include promrw.h; library and header are %s\n",
           expected);
    return 0;
}
