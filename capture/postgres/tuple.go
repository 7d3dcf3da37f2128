package postgres

import (
	"encoding/binary"

	"github.com/jackc/pglogrepl"
)

// pglogrepl decodes a row's tuple data with two allocations per column (a
// *TupleDataColumn and a copy of its bytes, copied byte by byte), about a
// fifth of the Postgres drain's CPU with the garbage collection it
// causes. parseChange decodes insert, update and delete messages into the
// same pglogrepl types with five allocations per tuple: the message, the
// TupleData, its columns and their pointers, and one copy of the tuple's bytes that every
// column's Data is a slice of (capped, so that appending to one never
// writes into the next). The bytes are copied because the message's
// buffer is the connection's, reused by the next receive.

// parseChange decodes data, an insert, update or delete message whose
// lengths checkLengths accepted. ok is false when data is not one of them
// or does not have the shape decoded here; pglogrepl then decodes it, with
// its own errors.
func parseChange(data []byte) (msg pglogrepl.Message, ok bool) {
	if len(data) < 1 {
		return nil, false
	}
	body := data[1:]
	switch data[0] {
	case 'I':
		if len(body) < 8 || body[4] != 'N' {
			return nil, false
		}
		m := &pglogrepl.InsertMessage{RelationID: binary.BigEndian.Uint32(body)}
		m.Tuple, _ = decodeTuple(body[5:])
		m.SetType(pglogrepl.MessageTypeInsert)
		return m, true
	case 'U':
		if len(body) < 6 {
			return nil, false
		}
		m := &pglogrepl.UpdateMessage{RelationID: binary.BigEndian.Uint32(body)}
		rest := body[4:]
		switch rest[0] {
		case pglogrepl.UpdateMessageTupleTypeKey, pglogrepl.UpdateMessageTupleTypeOld:
			m.OldTupleType = rest[0]
			var n int
			m.OldTuple, n = decodeTuple(rest[1:])
			rest = rest[1+n:] // checkLengths made sure an 'N' follows
		case pglogrepl.UpdateMessageTupleTypeNew:
		default:
			return nil, false
		}
		m.NewTuple, _ = decodeTuple(rest[1:])
		m.SetType(pglogrepl.MessageTypeUpdate)
		return m, true
	case 'D':
		if len(body) < 7 || (body[4] != pglogrepl.DeleteMessageTupleTypeKey && body[4] != pglogrepl.DeleteMessageTupleTypeOld) {
			return nil, false
		}
		m := &pglogrepl.DeleteMessage{RelationID: binary.BigEndian.Uint32(body), OldTupleType: body[4]}
		m.OldTuple, _ = decodeTuple(body[5:])
		m.SetType(pglogrepl.MessageTypeDelete)
		return m, true
	}
	return nil, false
}

// decodeTuple decodes the TupleData at the start of b, which tupleLen
// accepted, and returns it with its length.
func decodeTuple(b []byte) (*pglogrepl.TupleData, int) {
	n := int(binary.BigEndian.Uint16(b))
	end, _ := tupleLen(b)
	buf := make([]byte, end)
	copy(buf, b)
	td := &pglogrepl.TupleData{ColumnNum: uint16(n)}
	if n == 0 {
		return td, end // no columns: nil, as pglogrepl leaves them
	}
	cols := make([]pglogrepl.TupleDataColumn, n)
	td.Columns = make([]*pglogrepl.TupleDataColumn, n)
	off := 2
	for i := range cols {
		c := &cols[i]
		c.DataType = buf[off]
		off++
		if c.DataType == pglogrepl.TupleDataTypeText || c.DataType == pglogrepl.TupleDataTypeBinary {
			c.Length = binary.BigEndian.Uint32(buf[off:])
			off += 4
			l := int(c.Length)
			c.Data = buf[off : off+l : off+l]
			off += l
		}
		td.Columns[i] = c
	}
	return td, end
}
