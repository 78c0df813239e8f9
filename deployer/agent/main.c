/* main.c - shoal-agent entry point: dispatch on the first argument. */
#include <stdio.h>
#include <string.h>

#include "version.h"

static int usage(FILE *f)
{
	fprintf(f, "usage: shoal-agent --version\n");
	return f == stdout ? 0 : 2;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage(stderr);
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("shoal-agent %s\n", SHOAL_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "--help"))
		return usage(stdout);
	fprintf(stderr, "shoal-agent: unknown command '%s'\n", argv[1]);
	return 2;
}
