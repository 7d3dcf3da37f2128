package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// jvmCPU is a JVM's CPU seconds so far, with the part its JIT compiler
// threads and its garbage collector used. The broker's JIT compiles its
// per-request produce path (KafkaApis.handleProduceRequest,
// UnifiedLog.append, ...) only after thousands of produce requests, tens
// of seconds into a bench, and each C2 compilation of those methods costs
// 0.1-0.8 CPU seconds: a run that happens to overlap them pays seconds of
// broker CPU that a broker in service paid once, long ago.
//
// dataPlane is the part of the broker's threads that serve clients (the
// network and request-handler threads, "data-plane-kafka-..."), sys the
// whole JVM's system (kernel) time.
type jvmCPU struct{ total, jit, gc, dataPlane, sys float64 }

func (a jvmCPU) sub(b jvmCPU) jvmCPU {
	return jvmCPU{a.total - b.total, a.jit - b.jit, a.gc - b.gc, a.dataPlane - b.dataPlane, a.sys - b.sys}
}

// jvmThreadsCPU reads the CPU of every thread of the JVM pid, by the
// thread names HotSpot gives its own threads (truncated to 15 bytes by
// the kernel: "C2 CompilerThre", "GC Thread#0", "G1 Refine#0", "VM
// Thread"). Threads that ended are not counted: HotSpot's compiler and GC
// threads live as long as the JVM, or nearly (-XX:+UseDynamicNumberOfCompilerThreads
// may stop an idle compiler thread; its CPU then drops out of jit).
func jvmThreadsCPU(pid int) jvmCPU {
	var c jvmCPU
	if pid == 0 {
		return c
	}
	dir := filepath.Join("/proc", strconv.Itoa(pid), "task")
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		st, ok := readStatFile(filepath.Join(dir, e.Name(), "stat"))
		if !ok {
			continue
		}
		name, _ := os.ReadFile(filepath.Join(dir, e.Name(), "comm"))
		n := strings.TrimSpace(string(name))
		c.total += st.cpu
		c.sys += st.sys
		switch {
		case strings.Contains(n, "CompilerThre"):
			c.jit += st.cpu
		case strings.HasPrefix(n, "GC Thread"), strings.HasPrefix(n, "G1 "), n == "VM Thread":
			c.gc += st.cpu
		case strings.HasPrefix(n, "data-plane-kafk"):
			c.dataPlane += st.cpu
		}
	}
	return c
}
