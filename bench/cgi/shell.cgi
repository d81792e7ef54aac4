#!/bin/sh
# What most hand-written CGI looks like: a shell, a head and a line or two.
printf 'Content-Type: text/plain\r\n\r\n'
printf 'ok %s\n' "$QUERY_STRING"
