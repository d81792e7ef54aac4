/* Sends its head first, then echoes the body back as it reads it. A wrapper
 * that writes the whole body before it reads any output deadlocks as soon
 * as both pipes fill. */
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
	static const char head[] = "Content-Type: application/octet-stream\r\n\r\n";
	ssize_t n;

	if (writeall(head, sizeof head - 1) < 0)
		return 1;
	while ((n = read(0, buf, sizeof buf)) > 0)
		if (writeall(buf, (size_t)n) < 0)
			return 1;
	return n < 0 ? 1 : 0;
}
