#!/bin/sh
# Builds fcgi-wrap, serves examples/hello.cgi on a unix socket, sends it a
# GET and a POST with fcgi-wrap's own FastCGI client, and stops it again.
set -eu
cd "$(dirname "$0")/.."
tmp=$(mktemp -d /tmp/fcgi-wrap-demo.XXXXXX)
go build -o "$tmp/fcgi-wrap" .
sock="$tmp/hello.sock"

# fcgi-wrap will not run scripts as root unless told to (or given --user).
as_root=""
[ "$(id -u)" = 0 ] && as_root="--allow-root"

"$tmp/fcgi-wrap" $as_root --socket "unix:$sock" --access-log - examples/hello.cgi &
pid=$!
trap 'kill -TERM $pid; wait $pid; rm -rf "$tmp"' EXIT INT TERM

i=0
until [ -S "$sock" ]; do
	i=$((i + 1))
	[ $i -lt 100 ] || { echo "fcgi-wrap did not start" >&2; exit 1; }
	sleep 0.05
done

echo "--- GET /hello?name=reader"
"$tmp/fcgi-wrap" request --connect "unix:$sock" '/hello?name=reader'
echo "--- POST /hello"
"$tmp/fcgi-wrap" request --connect "unix:$sock" --data 'some form data' /hello
echo "---"
