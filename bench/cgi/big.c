/* Writes a response head, then as many zero bytes as QUERY_STRING says, in
 * 128 KiB writes (what cat uses), so the wrapper's forwarding is the limit. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char buf[128 << 10];

static int writeall(const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(1, p, n);
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int main(void)
{
	const char *q = getenv("QUERY_STRING");
	unsigned long long left = q ? strtoull(q, NULL, 10) : 0;
	static const char head[] = "Content-Type: application/octet-stream\r\n\r\n";

	if (writeall(head, sizeof head - 1) < 0)
		return 1;
	while (left > 0) {
		size_t n = left < sizeof buf ? (size_t)left : sizeof buf;
		if (writeall(buf, n) < 0)
			return 1;
		left -= n;
	}
	return 0;
}
