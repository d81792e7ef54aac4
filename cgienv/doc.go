// Package cgienv implements the CGI/1.1 contract of RFC 3875 as pure
// functions, so the rest of fcgi-wrap never has to reason about it:
//
//   - Resolve picks the program a request names (a fixed script,
//     SCRIPT_FILENAME, or DOCUMENT_ROOT+SCRIPT_NAME walked back to the first
//     executable with the rest as PATH_INFO, the way fcgiwrap does) and
//     refuses it with a 403 or 404 when policy or the filesystem says so.
//   - Environ builds the script's meta-variables (RFC 3875 section 4) from
//     what the web server sent, dropping what must never reach a script
//     (HTTP_PROXY, see https://httpoxy.org) and leaking nothing of the
//     wrapper's own environment unless the operator asks.
//   - ParseHead and AppendTo read and re-emit the script's response head
//     (RFC 3875 section 6: Status, Content-Type, Location, NPH), and
//     AppendError writes the wrapper's own error responses.
//
// It touches the filesystem only to stat and resolve paths; it starts no
// processes and knows nothing of FastCGI.
package cgienv
