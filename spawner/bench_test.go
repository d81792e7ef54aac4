package spawner

import (
	"context"
	"io"
	"os/exec"
	"syscall"
	"testing"
)

// BenchmarkSpawn and BenchmarkSpawnBaseline do the same work, start /bin/true,
// read its stdout to EOF and reap it, through Start and through a plain
// exec.Command loop; compare their ns/op from one run (go test -bench Spawn).
func BenchmarkSpawn(b *testing.B) {
	ctx := context.Background()
	cfg := Config{Path: "/bin/true"}
	for b.Loop() {
		p, err := Start(ctx, cfg)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, p.Stdout()); err != nil {
			b.Fatal(err)
		}
		<-p.Done()
		if e := p.Exit(); e.Code != 0 {
			b.Fatalf("got %v, want exit status 0", e)
		}
		p.Close()
	}
}

func BenchmarkSpawnBaseline(b *testing.B) {
	for b.Loop() {
		cmd := exec.Command("/bin/true")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		out, err := cmd.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, out); err != nil {
			b.Fatal(err)
		}
		if err := cmd.Wait(); err != nil {
			b.Fatal(err)
		}
	}
}
