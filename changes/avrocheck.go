package changes

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// checkBinary walks an Avro binary datum of schema n without building
// values, before goavro decodes it. goavro preallocates an array or map
// from the block count in the bytes (up to 2^31 entries), so a few
// untrusted bytes could make it allocate tens of gigabytes; checkBinary
// refuses a block count larger than the bytes left, which no datum whose
// items take at least one byte can have. (Sluice never writes arrays or
// maps of null.) It returns the bytes after the datum.
func checkBinary(n *node, b []byte, depth int) ([]byte, error) {
	if depth > 64 {
		return nil, errors.New("datum nested deeper than 64 levels")
	}
	switch n.typ {
	case "null":
		return b, nil
	case "boolean":
		if len(b) < 1 {
			return nil, errShort
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
		// goavro knows the size; a fixed schema is not written by Sluice
		// and allocates only its declared size.
		return b, nil
	case "union":
		i, rest, err := varint(b)
		if err != nil {
			return nil, err
		}
		if i < 0 || i >= int64(len(n.union)) {
			return nil, fmt.Errorf("union branch %d of %d", i, len(n.union))
		}
		return checkBinary(n.union[i], rest, depth+1)
	case "record":
		var err error
		for _, f := range n.fields {
			if b, err = checkBinary(f.n, b, depth+1); err != nil {
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
				return nil, fmt.Errorf("block of %d items in %d bytes", count, len(b))
			}
			for ; count > 0; count-- {
				if n.typ == "map" {
					if b, err = checkBinary(&node{typ: "string"}, b, depth+1); err != nil {
						return nil, err
					}
				}
				if b, err = checkBinary(n.items, b, depth+1); err != nil {
					return nil, err
				}
			}
		}
	}
	return nil, fmt.Errorf("unsupported Avro type %q", n.typ)
}

var errShort = errors.New("datum ends early")

func varint(b []byte) (int64, []byte, error) {
	v, n := binary.Varint(b)
	if n <= 0 {
		return 0, nil, errShort
	}
	return v, b[n:], nil
}

func skip(b []byte, n int64) ([]byte, error) {
	if n > int64(len(b)) {
		return nil, errShort
	}
	return b[n:], nil
}
