/* fuzz_elf.c - arbitrary bytes as a recipe binary.
 *
 * elf_closure() parses ELF headers, program headers and the dynamic section
 * by hand (image_elf.c), so every offset it reads comes from the file.  Any
 * input must give a library list or a clean error, never a crash or an
 * out-of-bounds read (ASan). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "image_int.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_close_ int fd = memfd_create("elf", MFD_CLOEXEC);
	char path[64];
	const char *bins[1] = {path};
	char **libs = NULL;
	size_t n = 0;
	struct err e;

	if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size))
		abort();
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	if (elf_closure(bins, 1, &libs, &n, &e) < 0) {
		if (!e.msg[0])
			abort();
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		free(libs[i]);
	free(libs);
	return 0;
}
