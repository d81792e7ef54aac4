#!/bin/sh
# A CGI script as people write them: a head, a blank line, a body.
# Try it: fcgi-wrap request --connect unix:/tmp/hello.sock '/hello?name=you'
name=$(printf '%s' "$QUERY_STRING" | sed -n 's/^.*name=\([^&]*\).*$/\1/p')
printf 'Content-Type: text/plain; charset=utf-8\r\n\r\n'
printf 'Hello, %s!\n' "${name:-world}"
printf 'You asked for %s %s; this is process %s.\n' "$REQUEST_METHOD" "$REQUEST_URI" "$$"
if [ "${CONTENT_LENGTH:-0}" -gt 0 ]; then
	printf 'Your %s-byte body said: ' "$CONTENT_LENGTH"
	cat
	echo
fi
