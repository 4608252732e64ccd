//go:build e2e

package bench

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// benchProcSampler watches, for one phase, every process whose executable is path: the
// highest VmHWM (the kernel's resident-set high-water mark) and the CPU time of each. A
// process that lives less than one sample gap may be missed, so both are sampled lower
// bounds.
type benchProcSampler struct {
	path string
	stop chan struct{}
	done chan struct{}

	mu   sync.Mutex
	peak int64
	cpu  map[int]time.Duration // user+system time of each process, as last read
}

func startBenchProcSampler(path string) *benchProcSampler {
	s := &benchProcSampler{path: path, stop: make(chan struct{}), done: make(chan struct{}), cpu: map[int]time.Duration{}}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(benchSampleGap)
		defer tick.Stop()
		for {
			s.sample()
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

func (s *benchProcSampler) sample() {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		dir := filepath.Join("/proc", e.Name())
		if exe, err := os.Readlink(filepath.Join(dir, "exe")); err != nil || exe != s.path {
			continue
		}
		hwm := benchReadPeakRSS(filepath.Join(dir, "status"))
		cpu := benchReadCPUTime(filepath.Join(dir, "stat"))
		s.mu.Lock()
		s.peak = max(s.peak, hwm)
		s.cpu[pid] = max(s.cpu[pid], cpu)
		s.mu.Unlock()
	}
}

// finish stops sampling and returns the peak VmHWM in KiB, the processes seen and
// their CPU time.
func (s *benchProcSampler) finish() (int64, int, time.Duration) {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	var cpu time.Duration
	for _, d := range s.cpu {
		cpu += d
	}
	return s.peak, len(s.cpu), cpu
}

// benchReadPeakRSS returns the VmHWM (peak resident set size) line of /proc/<pid>/status in KiB, or 0.
func benchReadPeakRSS(status string) int64 { return benchReadStatusKiB(status, "VmHWM:") }

// benchReadStatusKiB returns the line of /proc/<pid>/status that starts with key, in KiB, or 0.
func benchReadStatusKiB(status, key string) int64 {
	data, err := os.ReadFile(status)
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), key); ok {
			kib, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kib
		}
	}
	return 0
}

// benchReadCPUTime returns utime+stime from /proc/<pid>/stat, or 0.
func benchReadCPUTime(stat string) time.Duration {
	data, err := os.ReadFile(stat)
	if err != nil {
		return 0
	}
	// The command name, field 2, may hold spaces; the fields after it start past ")".
	_, rest, ok := strings.Cut(string(data), ") ")
	if !ok {
		return 0
	}
	fields := strings.Fields(rest) // fields[0] is field 3 (state): utime is 14, stime 15
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / benchClockTicks
}

// benchClockTicks is USER_HZ, the unit of /proc/<pid>/stat times: 100 on every Linux Go runs on.
const benchClockTicks = 100
