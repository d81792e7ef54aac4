// Package wire implements FastCGI 1.0
// (https://fastcgi-archives.github.io/FastCGI_Specification.html): the record
// codec (section 3.3), name-value pairs (section 3.4), the management records
// (section 4), and both ends of the application protocol (sections 5 and 6):
// a multiplexing responder [Server] that hands each request to a [Handler],
// and a [Client].
//
// It knows nothing of CGI or processes: a request is its params, its input
// streams and its output streams.
package wire
