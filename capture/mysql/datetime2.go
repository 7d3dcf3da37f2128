package mysql

import (
	"encoding/binary"
	"strconv"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
)

// go-mysql renders a DATETIME2 value (DATETIME since MySQL 5.6.4 and
// MariaDB 10.1) as text with fmt.Sprintf, which cost about a tenth of the
// MySQL drain's CPU. rowsDecoder has go-mysql read the value's bytes as a
// BIT column of the same width instead (a big-endian integer, no
// allocation beyond the interface) and renders the text here, the same
// text go-mysql writes: "YYYY-MM-DD hh:mm:ss" and, with fractional
// seconds, as many digits as the column declares.

// datetime2Len is the size of a DATETIME2 value with dec fractional
// digits.
func datetime2Len(dec uint16) int { return 5 + int(dec+1)/2 }

// datetime2AsBit is the BIT column metadata that makes go-mysql read a
// DATETIME2 value with dec fractional digits as an integer of its bytes.
// A DATETIME2 column's metadata larger than 6 is left alone (go-mysql
// rejects it as before).
func datetime2AsBit(dec uint16) (meta uint16, ok bool) {
	if dec > 6 {
		return 0, false
	}
	return uint16(datetime2Len(dec)) << 8, true
}

// appendDatetime2 appends the text of a DATETIME2 value with dec
// fractional digits whose bytes, big-endian, are v.
func appendDatetime2(dst []byte, v uint64, dec int) []byte {
	n := datetime2Len(uint16(dec))
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	data := b[8-n:]
	intPart := int64(gomysql.BFixedLengthInt(data[0:5])) - replication.DATETIMEF_INT_OFS
	var frac int64
	switch dec {
	case 1, 2:
		frac = int64(data[5]) * 10000
	case 3, 4:
		frac = int64(binary.BigEndian.Uint16(data[5:7])) * 100
	case 5, 6:
		frac = int64(gomysql.BFixedLengthInt(data[5:8]))
	}
	if intPart == 0 {
		return appendDatetimeText(dst, 0, 0, 0, 0, 0, 0, frac, dec)
	}
	tmp := intPart<<24 + frac
	if tmp < 0 {
		tmp = -tmp
	}
	ymdhms := tmp >> 24
	ymd := ymdhms >> 17
	ym := ymd >> 5
	hms := ymdhms % (1 << 17)
	return appendDatetimeText(dst, ym/13, ym%13, ymd%(1<<5), hms>>12, (hms>>6)%(1<<6), hms%(1<<6), frac, dec)
}

// appendDatetimeText appends what fmt's "%04d-%02d-%02d %02d:%02d:%02d"
// writes, then, when dec > 0, "." and the first dec of frac's "%06d"
// digits (all of them but the last 6-dec).
func appendDatetimeText(dst []byte, year, month, day, hour, minute, second, frac int64, dec int) []byte {
	dst = appendPadded(dst, year, 4)
	dst = append(dst, '-')
	dst = appendPadded(dst, month, 2)
	dst = append(dst, '-')
	dst = appendPadded(dst, day, 2)
	dst = append(dst, ' ')
	dst = appendPadded(dst, hour, 2)
	dst = append(dst, ':')
	dst = appendPadded(dst, minute, 2)
	dst = append(dst, ':')
	dst = appendPadded(dst, second, 2)
	if dec == 0 {
		return dst
	}
	dst = append(dst, '.')
	dst = appendPadded(dst, frac, 6)
	return dst[:len(dst)-(6-dec)]
}

// appendPadded appends v (not negative) as fmt's %0<width>d does.
func appendPadded(dst []byte, v int64, width int) []byte {
	var b [20]byte
	s := strconv.AppendInt(b[:0], v, 10)
	for i := len(s); i < width; i++ {
		dst = append(dst, '0')
	}
	return append(dst, s...)
}
