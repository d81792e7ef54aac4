/* Sleeps for QUERY_STRING milliseconds, then answers: a script that holds a
 * worker without using the CPU, to see queueing rather than spawning. */
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(void)
{
	const char *q = getenv("QUERY_STRING");
	long ms = q ? strtol(q, NULL, 10) : 0;
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	static const char resp[] = "Content-Type: text/plain\r\n\r\nok\n";

	while (nanosleep(&ts, &ts) != 0)
		;
	return write(1, resp, sizeof resp - 1) == (ssize_t)(sizeof resp - 1) ? 0 : 1;
}
