package avrowalk

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrShort reports a datum that ends before its schema does.
var ErrShort = errors.New("datum ends early")

// BlockError reports an array or map block claiming more items than
// bytes are left: goavro would preallocate room for Count items.
type BlockError struct {
	Type  string // "array" or "map"
	Count int64  // items the block claims
	Left  int    // bytes left after the block header
}

func (e *BlockError) Error() string {
	return fmt.Sprintf("block of %d items in %d bytes", e.Count, e.Left)
}

// Check walks the Avro binary datum b of schema n without building
// values, before a decoder that trusts block counts (goavro) decodes it.
// It refuses an array or map block of more items than bytes are left
// (*BlockError), which no datum whose items take at least one byte can
// have (Sluice never writes arrays or maps of null), a datum cut short
// (ErrShort), a negative length, a union branch out of range, and data
// nested deeper than 64 levels. Bytes after the datum are not checked.
func Check(n *Node, b []byte) error {
	_, err := check(n, b, 0)
	return err
}

// check returns the bytes after the datum.
func check(n *Node, b []byte, depth int) ([]byte, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("datum nested deeper than %d levels", maxDepth)
	}
	switch n.Type {
	case "null":
		return b, nil
	case "boolean":
		if len(b) < 1 {
			return nil, ErrShort
		}
		return b[1:], nil
	case "int", "long", "enum":
		_, rest, err := varint(b)
		return rest, err
	case "float":
		return skip(b, 4)
	case "double":
		return skip(b, 8)
	case "bytes", "string":
		l, rest, err := varint(b)
		if err != nil {
			return nil, err
		}
		if l < 0 {
			return nil, fmt.Errorf("negative length %d", l)
		}
		return skip(rest, l)
	case "fixed":
		// The walk must stay aligned with goavro's: a count read from
		// the wrong offset checks nothing.
		return skip(b, n.Size)
	case "union":
		i, rest, err := varint(b)
		if err != nil {
			return nil, err
		}
		if i < 0 || i >= int64(len(n.Union)) {
			return nil, fmt.Errorf("union branch %d of %d", i, len(n.Union))
		}
		return check(n.Union[i], rest, depth+1)
	case "record":
		var err error
		for _, f := range n.Fields {
			if b, err = check(f.Type, b, depth+1); err != nil {
				return nil, err
			}
		}
		return b, nil
	case "array", "map":
		for {
			count, rest, err := varint(b)
			if err != nil {
				return nil, err
			}
			b = rest
			if count == 0 {
				return b, nil
			}
			if count < 0 {
				if count == -1<<63 {
					return nil, errors.New("block count out of range")
				}
				count = -count
				if _, b, err = varint(b); err != nil { // the block's byte size
					return nil, err
				}
			}
			if count > int64(len(b)) {
				return nil, &BlockError{Type: n.Type, Count: count, Left: len(b)}
			}
			for ; count > 0; count-- {
				if n.Type == "map" {
					if b, err = check(mapKey, b, depth+1); err != nil {
						return nil, err
					}
				}
				if b, err = check(n.Items, b, depth+1); err != nil {
					return nil, err
				}
			}
		}
	}
	return nil, fmt.Errorf("unsupported Avro type %q", n.Type)
}

var mapKey = &Node{Type: "string"}

func varint(b []byte) (int64, []byte, error) {
	v, n := binary.Varint(b)
	if n <= 0 {
		return 0, nil, ErrShort
	}
	return v, b[n:], nil
}

func skip(b []byte, n int64) ([]byte, error) {
	if n > int64(len(b)) {
		return nil, ErrShort
	}
	return b[n:], nil
}
