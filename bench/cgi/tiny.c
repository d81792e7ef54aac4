/* The smallest useful CGI program: one write of a complete response. It
 * measures what a wrapper adds per request, since its own work is nil. */
#include <unistd.h>

static const char resp[] = "Content-Type: text/plain\r\n\r\nok\n";

int main(void)
{
	return write(1, resp, sizeof resp - 1) == (ssize_t)(sizeof resp - 1) ? 0 : 1;
}
