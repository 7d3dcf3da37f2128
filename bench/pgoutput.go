package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
)

// pgoutputChanges splits pg_recvlogical's output of the pgoutput plugin
// (protocol version 1; pg_recvlogical writes each message followed by a
// newline) and calls emit once per insert, update or delete. It walks
// the message framing only; values are skipped, not decoded.
func pgoutputChanges(r *bufio.Reader, emit func()) error {
	p := pgoutputReader{r: r}
	for {
		t, err := r.ReadByte()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		switch t {
		case 'B': // final LSN, commit time, xid
			p.skip(20)
		case 'C': // flags, commit LSN, end LSN, commit time
			p.skip(25)
		case 'O': // origin LSN, name
			p.skip(8)
			p.str()
		case 'Y': // type oid, namespace, name
			p.skip(4)
			p.str()
			p.str()
		case 'R': // relation: oid, namespace, name, replica identity, columns
			p.skip(4)
			p.str()
			p.str()
			p.skip(1)
			for n := p.u16(); n > 0 && p.err == nil; n-- {
				p.skip(1)
				p.str()
				p.skip(8)
			}
		case 'I': // oid, 'N', new tuple
			p.skip(4)
			p.expect('N')
			p.tuple()
			emit()
		case 'U': // oid, optional 'K'/'O' old tuple, 'N', new tuple
			p.skip(4)
			k := p.byte()
			if k == 'K' || k == 'O' {
				p.tuple()
				k = p.byte()
			}
			if k != 'N' && p.err == nil {
				p.err = fmt.Errorf("update: unexpected %q", k)
			}
			p.tuple()
			emit()
		case 'D': // oid, 'K'/'O', old tuple
			p.skip(5)
			p.tuple()
			emit()
		case 'T': // relation count, options, oids
			n := p.u32()
			p.skip(1 + 4*int(n))
		case 'M': // flags, LSN, prefix, content
			p.skip(9)
			p.str()
			p.skip(int(p.u32()))
		default:
			return fmt.Errorf("pgoutput: unknown message type %q", t)
		}
		p.expect('\n')
		if p.err != nil {
			return fmt.Errorf("pgoutput message %q: %w", t, p.err)
		}
	}
}

type pgoutputReader struct {
	r   *bufio.Reader
	err error
	b   [4]byte
}

func (p *pgoutputReader) skip(n int) {
	if p.err == nil {
		_, p.err = p.r.Discard(n)
	}
}

func (p *pgoutputReader) byte() byte {
	if p.err != nil {
		return 0
	}
	var c byte
	c, p.err = p.r.ReadByte()
	return c
}

func (p *pgoutputReader) expect(c byte) {
	if got := p.byte(); got != c && p.err == nil {
		p.err = fmt.Errorf("expected %q, got %q", c, got)
	}
}

func (p *pgoutputReader) u16() uint16 {
	if p.err == nil {
		_, p.err = io.ReadFull(p.r, p.b[:2])
	}
	return binary.BigEndian.Uint16(p.b[:2])
}

func (p *pgoutputReader) u32() uint32 {
	if p.err == nil {
		_, p.err = io.ReadFull(p.r, p.b[:4])
	}
	return binary.BigEndian.Uint32(p.b[:4])
}

// str skips a NUL-terminated string.
func (p *pgoutputReader) str() {
	for p.err == nil {
		_, err := p.r.ReadSlice(0)
		if err != bufio.ErrBufferFull {
			p.err = err
			return
		}
	}
}

// tuple skips TupleData: a column count, then per column 'n', 'u', or
// 't'/'b' with a length and the value.
func (p *pgoutputReader) tuple() {
	for n := p.u16(); n > 0 && p.err == nil; n-- {
		switch k := p.byte(); k {
		case 'n', 'u':
		case 't', 'b':
			p.skip(int(p.u32()))
		default:
			if p.err == nil {
				p.err = fmt.Errorf("tuple: unknown column kind %q", k)
			}
		}
	}
}
