package main

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/fcgi-wrap/fcgi-wrap/wire"
)

// readAll collects every record's content from rr, per type.
func readAll(rr *recordReader) (map[wire.RecType][]byte, []wire.Header, error) {
	got := map[wire.RecType][]byte{}
	var hs []wire.Header
	for {
		h, err := rr.next(func(h wire.Header, p []byte) error {
			got[h.Type] = append(got[h.Type], p...)
			return nil
		})
		if err != nil {
			return got, hs, err
		}
		hs = append(hs, h)
	}
}

func recordStream() (stream, stdout []byte) {
	stdout = make([]byte, 200000)
	for i := range stdout {
		stdout[i] = byte(i * 13)
	}
	for rest := stdout; len(rest) > 0; {
		n := min(len(rest), wire.MaxContent)
		stream = wire.AppendRecord(stream, wire.TypeStdout, 1, rest[:n])
		rest = rest[n:]
	}
	stream = wire.AppendRecord(stream, wire.TypeStderr, 1, []byte("warn"))
	stream = wire.AppendRecord(stream, wire.TypeStdout, 1, nil)
	stream = wire.AppendEndRequest(stream, 1, wire.EndRequest{AppStatus: 7})
	return stream, stdout
}

// TestRecordReaderEveryByteOnce: records of every size, read whole or a
// byte at a time, come out whole and in order, and each read asks for no
// more than the read size.
func TestRecordReaderEveryByteOnce(t *testing.T) {
	stream, stdout := recordStream()
	for name, r := range map[string]io.Reader{
		"whole":    &sizeWatcher{t: t, r: bytes.NewReader(stream)},
		"one byte": &sizeWatcher{t: t, r: iotest.OneByteReader(bytes.NewReader(stream))},
	} {
		t.Run(name, func(t *testing.T) {
			got, hs, err := readAll(newRecordReader(r))
			if err != io.EOF {
				t.Fatalf("got error %v, want io.EOF after the last record", err)
			}
			if !bytes.Equal(got[wire.TypeStdout], stdout) || string(got[wire.TypeStderr]) != "warn" {
				t.Errorf("got %d bytes of stdout and stderr %q, want %d and %q", len(got[wire.TypeStdout]), got[wire.TypeStderr], len(stdout), "warn")
			}
			end, err := wire.ParseEndRequest(got[wire.TypeEndRequest])
			if err != nil || end.AppStatus != 7 || hs[len(hs)-1].Type != wire.TypeEndRequest {
				t.Errorf("got END_REQUEST %+v (%v) last of %d, want app status 7 last", end, err, len(hs))
			}
		})
	}
}

// sizeWatcher fails the test on a read of more than recordReadSize.
type sizeWatcher struct {
	t *testing.T
	r io.Reader
}

func (w *sizeWatcher) Read(p []byte) (int, error) {
	if len(p) > recordReadSize {
		w.t.Errorf("a read of %d bytes, want at most %d", len(p), recordReadSize)
	}
	return w.r.Read(p)
}

// TestRecordReaderCutShort: input that ends inside a record is
// io.ErrUnexpectedEOF, and a header of another version an error.
func TestRecordReaderCutShort(t *testing.T) {
	stream, _ := recordStream()
	for _, cut := range []int{3, wire.HeaderLen + 100, 65540, len(stream) - 3} {
		_, _, err := readAll(newRecordReader(bytes.NewReader(stream[:cut])))
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("cut at %d: got %v, want io.ErrUnexpectedEOF", cut, err)
		}
	}
	bad := append([]byte{2}, stream[1:]...)
	if _, _, err := readAll(newRecordReader(bytes.NewReader(bad))); err == nil || errors.Is(err, io.EOF) {
		t.Errorf("version 2: got %v, want an error", err)
	}
}
