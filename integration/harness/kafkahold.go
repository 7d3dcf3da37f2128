package harness

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"time"
)

// KafkaHold is a Kafka request held back by a Proxy: the first request of
// one API key that a client sends after HoldKafkaRequest. The client waits
// for its response; the broker sees nothing of it until Release. This
// makes races deterministic, such as a transaction's EndTxn reaching the
// broker only after the producer was killed and a new one started.
type KafkaHold struct {
	key      int16
	captured chan struct{}
	release  chan struct{}
	once     sync.Once
}

// Captured is closed once the request is held.
func (h *KafkaHold) Captured() <-chan struct{} { return h.captured }

// Release sends the held request on to the broker: on the connection it
// came in on, or on a new one if the client is gone (its response is then
// read and dropped).
func (h *KafkaHold) Release() { h.once.Do(func() { close(h.release) }) }

// KafkaFrames makes the proxy read the client-to-server bytes as Kafka
// request frames, which HoldKafkaRequest needs. Call it before the first
// connection.
func (p *Proxy) KafkaFrames() {
	p.mu.Lock()
	p.kafka = true
	p.mu.Unlock()
}

// HoldKafkaRequest holds the next request with the given API key (for
// example 26 EndTxn, 22 InitProducerId). The proxy must read Kafka frames
// (KafkaFrames).
func (p *Proxy) HoldKafkaRequest(apiKey int16) *KafkaHold {
	h := &KafkaHold{key: apiKey, captured: make(chan struct{}), release: make(chan struct{})}
	p.mu.Lock()
	p.holds = append(p.holds, h)
	p.mu.Unlock()
	return h
}

func (p *Proxy) takeHold(key int16) *KafkaHold {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, h := range p.holds {
		if h.key == key {
			p.holds = append(p.holds[:i], p.holds[i+1:]...)
			return h
		}
	}
	return nil
}

// pipeKafkaRequests forwards request frames from a client (src) to the
// broker (dst), with the cut, stall and delay of pipe and the holds.
func (p *Proxy) pipeKafkaRequests(dst, src net.Conn) {
	defer func() {
		_ = dst.Close()
		_ = src.Close()
		p.mu.Lock()
		delete(p.conns, dst)
		delete(p.conns, src)
		p.mu.Unlock()
	}()
	r := bufio.NewReaderSize(src, 64<<10)
	var head [6]byte // size, api key
	for {
		if _, err := io.ReadFull(r, head[:]); err != nil {
			return
		}
		size := binary.BigEndian.Uint32(head[:4])
		frame := make([]byte, 4+int(size))
		copy(frame, head[:])
		if _, err := io.ReadFull(r, frame[len(head):]); err != nil {
			return
		}
		if !p.gate() {
			return
		}
		h := p.takeHold(int16(binary.BigEndian.Uint16(head[4:6])))
		if h != nil {
			close(h.captured)
			<-h.release
		}
		if _, err := dst.Write(frame); err != nil {
			if h != nil {
				p.sendAlone(frame)
			}
			return
		}
	}
}

// sendAlone sends one request frame on a connection of its own and waits
// for the broker's response, so that the broker has handled it.
func (p *Proxy) sendAlone(frame []byte) {
	c, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		return
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Write(frame); err != nil {
		return
	}
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err == nil {
		_, _ = io.CopyN(io.Discard, c, int64(binary.BigEndian.Uint32(size[:])))
	}
}
