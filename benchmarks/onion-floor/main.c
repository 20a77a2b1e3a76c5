/* onion-floor: selftest | components [--batches N] | chain [--mib N] [--warmup-mib N] [--runs N]
 *              [--modes full,aead,layers,plain,raw] [--ctr vaes|aesni|evp] */
#include "floor.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "selftest")) return selftest();
    if (argc >= 2 && !strcmp(argv[1], "components")) return components(argc - 2, argv + 2);
    if (argc >= 2 && !strcmp(argv[1], "chain")) return chain(argc - 2, argv + 2);
    fprintf(stderr, "usage: onion-floor selftest | components [--batches N] | chain [--mib N] [--warmup-mib N] [--runs N] "
                    "[--modes full,aead,layers,plain,raw] [--ctr vaes|aesni|evp]\n");
    return 2;
}
