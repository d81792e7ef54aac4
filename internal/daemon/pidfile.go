package daemon

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// writePidFile writes our pid to path ("" does nothing), once the sockets
// are ours (a second instance that fails to bind must not overwrite the
// first's), by rename, so no reader sees a half-written file. remove
// deletes it again unless another instance has written its own meanwhile.
func writePidFile(path string) (remove func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	mine := []byte(strconv.Itoa(os.Getpid()) + "\n")
	tmp := path + ".tmp"
	err = os.WriteFile(tmp, mine, 0o644)
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("--pid-file: %w", err)
	}
	return func() {
		// A new instance may have written its own pid there while this
		// one drained: that file is not ours to remove.
		if now, err := os.ReadFile(path); err == nil && bytes.Equal(now, mine) {
			os.Remove(path)
		}
	}, nil
}
