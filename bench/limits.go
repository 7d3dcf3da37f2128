package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The limits beside Sluice's figures come in two kinds, both measured in
// the same run on the same servers:
//
//   - the source's own reader with its output on an os.File opened on
//     /dev/null (never a buffer in the bench process): what reading the
//     source costs, and nothing else;
//   - the same reader with its output on a pipe into a franz-go producer
//     that sends, per change or row the reader prints, a pre-encoded
//     record of the size Sluice wrote for it (sizes sampled from Sluice's
//     own topic) to a topic with as many partitions as Sluice's, with
//     Sluice's producer settings: what reading the source and writing
//     Kafka cost together on the same cores, with no decoding and no
//     encoding.
//
// Each limit's result carries its exact command line.

// limitRun is one run of a limit.
type limitRun struct {
	cmdline  string
	took     time.Duration
	changes  int64   // changes or rows the reader printed (Kafka-paying limits)
	records  int64   // records produced (Kafka-paying limits)
	cpu      float64 // the reader's CPU seconds
	prodCPU  float64 // the producer's (this process's) CPU seconds, Kafka-paying limits
	kafkaCPU float64 // the broker's CPU seconds over the run, Kafka-paying limits
}

// selfCPU returns this process's CPU seconds so far.
func selfCPU() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// shellQuote renders args as a shell command line.
func shellQuote(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a != "" && strings.IndexFunc(a, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_=./:,@%+", r))
		}) < 0 {
			q[i] = a
			continue
		}
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

// boundedBuffer keeps the first 64 KiB written to it (a reader's error
// messages), never more.
type boundedBuffer struct{ bytes.Buffer }

func (b *boundedBuffer) Write(p []byte) (int, error) {
	if room := 64<<10 - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// devNullLimit runs the reader with its standard output on /dev/null.
func devNullLimit(name string, args ...string) (limitRun, error) {
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return limitRun{}, err
	}
	defer null.Close()
	cmd := exec.Command(name, args...)
	cmd.Stdout = null
	var stderr boundedBuffer
	cmd.Stderr = &stderr
	r := limitRun{cmdline: shellQuote(cmd.Args) + " > /dev/null"}
	logf("limit: %s", r.cmdline)
	t0 := time.Now()
	if err := cmd.Run(); err != nil {
		return r, fmt.Errorf("%s: %w: %.500s", name, err, stderr.String())
	}
	r.took = time.Since(t0)
	r.cpu = cmd.ProcessState.UserTime().Seconds() + cmd.ProcessState.SystemTime().Seconds()
	logf("limit: %s in %s; CPU seconds: %.2f", name, r.took.Round(time.Millisecond), r.cpu)
	return r, nil
}

// recordShape is the size of what Sluice produced for one change or row:
// its record, and whether a tombstone followed it.
type recordShape struct {
	key, value int
	tombstone  bool
}

// sampleShapes reads up to n records from the start of Sluice's topic and
// returns their shapes in order, and the topic's partition count.
func (e *benchEnv) sampleShapes(ctx context.Context, topic string, n int) ([]recordShape, int32, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.k.Brokers()...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		return nil, 0, err
	}
	defer cl.Close()
	td, err := kadm.NewClient(cl).ListTopics(ctx, topic)
	if err != nil {
		return nil, 0, err
	}
	parts := int32(len(td[topic].Partitions))
	if parts == 0 {
		return nil, 0, fmt.Errorf("topic %s: no partitions (did Sluice write it?)", topic)
	}
	var shapes []recordShape
	for len(shapes) < n {
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		fs := cl.PollFetches(pctx)
		cancel()
		if fs.NumRecords() == 0 {
			break
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Value == nil && len(shapes) > 0 {
				shapes[len(shapes)-1].tombstone = true
				return
			}
			shapes = append(shapes, recordShape{key: len(r.Key), value: len(r.Value)})
		})
	}
	if len(shapes) == 0 {
		return nil, 0, fmt.Errorf("topic %s: no records", topic)
	}
	return shapes[:min(len(shapes), n)], parts, nil
}

// meanShape returns the mean key and value bytes of a change's records
// and the share of changes followed by a tombstone.
func meanShape(s []recordShape) (key, value, tombs float64) {
	for _, r := range s {
		key += float64(r.key)
		value += float64(r.value)
		if r.tombstone {
			tombs++
		}
	}
	n := float64(len(s))
	return key / n, value / n, tombs / n
}

// splitter reads a reader's output and calls emit once per change or row.
type splitter func(r *bufio.Reader, emit func()) error

// everyLine: one row per line (COPY text, mariadb --batch).
func everyLine(r *bufio.Reader, emit func()) error {
	return eachLine(r, func([]byte) { emit() })
}

// binlogRows: mariadb-binlog --verbose prints one "### INSERT INTO",
// "### UPDATE" or "### DELETE FROM" line per row changed.
func binlogRows(r *bufio.Reader, emit func()) error {
	return eachLine(r, func(l []byte) {
		if bytes.HasPrefix(l, []byte("### INSERT INTO ")) || bytes.HasPrefix(l, []byte("### UPDATE ")) || bytes.HasPrefix(l, []byte("### DELETE FROM ")) {
			emit()
		}
	})
}

func eachLine(r *bufio.Reader, fn func([]byte)) error {
	start := true
	for {
		l, err := r.ReadSlice('\n')
		if len(l) > 0 && start {
			fn(l)
		}
		switch {
		case err == nil:
			start = true
		case errors.Is(err, bufio.ErrBufferFull):
			start = false // the rest of a long line
		case err == io.EOF:
			return nil
		default:
			return err
		}
	}
}

// kafkaLimit runs the reader with its standard output on a pipe, and
// produces one pre-encoded record (and tombstone) of the shape Sluice
// wrote per change or row it reads, cycling through shapes, to a new
// topic of parts partitions, with Sluice's producer settings (acks=all,
// idempotent, 5 ms linger, no compression, sticky key partitioner, 20,000
// buffered records, 64 MiB). It returns once every record is acknowledged.
func (e *benchEnv) kafkaLimit(ctx context.Context, topic string, parts int32, shapes []recordShape, split splitter, name string, args ...string) (limitRun, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.k.Brokers()...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)), kgo.ProducerLinger(5*time.Millisecond),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.MaxBufferedRecords(20000), kgo.MaxBufferedBytes(64<<20))
	if err != nil {
		return limitRun{}, err
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, parts, -1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return limitRun{}, fmt.Errorf("creating %s: %w", topic, err)
	}
	maxVal := 0
	for _, s := range shapes {
		maxVal = max(maxVal, s.value, s.key)
	}
	val := make([]byte, maxVal)
	_, _ = rand.Read(val[:maxVal/3]) // partly compressible, like a change event

	cmd := exec.Command(name, args...)
	var stderr boundedBuffer
	cmd.Stderr = &stderr
	out, pw, err := bigPipe()
	if err != nil {
		return limitRun{}, err
	}
	defer out.Close()
	cmd.Stdout = pw
	r := limitRun{cmdline: fmt.Sprintf("%s | franz-go producer -> %s (%d partition(s), acks=all, idempotent, one pre-encoded record per change or row, sizes from Sluice's topic)",
		shellQuote(cmd.Args), topic, parts)}
	logf("limit: %s", r.cmdline)
	var (
		mu       sync.Mutex
		firstErr error
	)
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			mu.Lock()
			if firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
		}
	}
	var i int64
	emit := func() {
		s := shapes[i%int64(len(shapes))]
		key := make([]byte, s.key)
		for j := 0; j < len(key) && j < 8; j++ {
			key[len(key)-1-j] = byte(i >> (8 * j))
		}
		cl.Produce(ctx, &kgo.Record{Topic: topic, Key: key, Value: val[:s.value]}, promise)
		r.records++
		if s.tombstone {
			cl.Produce(ctx, &kgo.Record{Topic: topic, Key: key}, promise)
			r.records++
		}
		i++
	}
	if *flagProfile != "" {
		if f, err := os.Create(*flagProfile + "." + topic); err == nil {
			defer f.Close()
			if pprof.StartCPUProfile(f) == nil {
				defer pprof.StopCPUProfile()
			}
		}
	}
	m := e.meter()
	cpu0 := selfCPU()
	t0 := time.Now()
	err = cmd.Start()
	pw.Close()
	if err != nil {
		return r, err
	}
	serr := split(bufio.NewReaderSize(batchingReader{out}, 1<<20), emit)
	if serr != nil {
		_ = cmd.Process.Kill()
	}
	werr := cmd.Wait()
	if err := cl.Flush(ctx); err != nil {
		return r, err
	}
	r.took = time.Since(t0)
	r.cpu = cmd.ProcessState.UserTime().Seconds() + cmd.ProcessState.SystemTime().Seconds()
	r.prodCPU = selfCPU() - cpu0
	_, r.kafkaCPU = m.since()
	switch {
	case serr != nil:
		return r, fmt.Errorf("%s: reading its output: %w", name, serr)
	case werr != nil:
		return r, fmt.Errorf("%s: %w: %.500s", name, werr, stderr.String())
	case firstErr != nil:
		return r, fmt.Errorf("producing to %s: %w", topic, firstErr)
	}
	r.changes = i
	logf("limit: %d changes or rows, %d records in %s; CPU seconds: %s %.2f, producer %.2f, kafka %.2f",
		i, r.records, r.took.Round(time.Millisecond), name, r.cpu, r.prodCPU, r.kafkaCPU)
	return r, nil
}

// bigPipe makes a pipe of 1 MiB (Linux's default limit for an
// unprivileged process) for a reader's standard output, so that a reader
// that writes each change with writes of its own (pg_recvlogical) runs
// ahead of the producer instead of waking it for every change. The caller
// closes the write end once the reader has started.
func bigPipe() (r, w *os.File, err error) {
	if r, w, err = os.Pipe(); err != nil {
		return nil, nil, err
	}
	const fSetPipeSize = 1031 // F_SETPIPE_SZ
	_, _, _ = syscall.Syscall(syscall.SYS_FCNTL, w.Fd(), fSetPipeSize, 1<<20)
	return r, w, nil
}

// batchingReader reads a pipe in large pieces: after a short read it
// lets the writer fill the pipe for a millisecond, so that the producer
// handles changes in batches rather than one wake-up each.
type batchingReader struct{ f *os.File }

func (b batchingReader) Read(p []byte) (int, error) {
	n, err := b.f.Read(p)
	if err == nil && n < 64<<10 {
		time.Sleep(time.Millisecond)
	}
	return n, err
}
