package daemon

import (
	"fmt"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"
)

// statusInterval is how often systemd's STATUS= line is refreshed; it is
// what `systemctl status` shows, so seconds are fine.
const statusInterval = 2 * time.Second

// startNotifier tells systemd (Type=notify) that the sockets are bound and
// requests are served, then keeps STATUS= and the watchdog fed until the
// returned stop is called, which also sends STOPPING=1. Without
// NOTIFY_SOCKET it does nothing.
func (d *daemon) startNotifier() (stop func()) {
	if ok, err := sd.SdNotify(false, sd.SdNotifyReady); !ok {
		if err != nil {
			d.log.Warn("sd_notify READY failed", "error", err)
		}
		return func() {}
	}
	watchdog, err := sd.SdWatchdogEnabled(false)
	if err != nil {
		d.log.Warn("WATCHDOG_USEC ignored", "error", err)
	}
	d.sendStatus()
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		statusTick := time.NewTicker(statusInterval)
		defer statusTick.Stop()
		var watchdogTick <-chan time.Time
		if watchdog > 0 {
			t := time.NewTicker(watchdog / 2)
			defer t.Stop()
			watchdogTick = t.C
			sd.SdNotify(false, sd.SdNotifyWatchdog)
		}
		for {
			select {
			case <-statusTick.C:
				d.sendStatus()
			case <-watchdogTick:
				sd.SdNotify(false, sd.SdNotifyWatchdog)
			case <-quit:
				return
			}
		}
	}()
	return func() {
		close(quit)
		<-done
		sd.SdNotify(false, sd.SdNotifyStopping)
	}
}

func (d *daemon) sendStatus() {
	snap := d.pool.Snapshot()
	sd.SdNotify(false, fmt.Sprintf("STATUS=active %d/%d, queued %d, served %d",
		snap.Active, snap.Workers, snap.Queued, snap.Accepted))
}
