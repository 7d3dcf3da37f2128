package postgres

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pglogrepl"

	"github.com/sluicecdc/sluice/schema"
)

// Messages maps a logical decoding message prefix to the table version
// its messages arrive as: a transactional message
// (pg_logical_emit_message(true, prefix, body)) becomes an insert into
// that table, inside its transaction, so it commits (or rolls back) with
// the writes beside it. The outbox transform routes these rows
// (docs/transforms.md, "Outbox messages").
//
// The body is a JSON object with one member per column, named as the
// column: a string for a text column, any JSON value for a jsonb column
// (absent or null: NULL). The first column, when absent, is the
// message's LSN.
type Messages map[string]*schema.Table

// errMessageBody reports a message body that is not what its table
// needs; the message stays in the WAL, so it stops Sluice (a
// *schema.ValueError) rather than being skipped.
var errMessageBody = errors.New("logical decoding message body is not a JSON object of the table's columns")

// messageRow decodes a message body into t's row values (text format, as
// pgoutput sends them). body is untrusted: FuzzMessageRow.
func messageRow(t *schema.Table, body []byte, lsn pglogrepl.LSN) ([]any, error) {
	var members map[string]json.RawMessage
	d := json.NewDecoder(bytes.NewReader(body))
	if err := d.Decode(&members); err != nil || members == nil || d.More() {
		return nil, messageErr(t, "", body, fmt.Errorf("%w: %v", errMessageBody, err))
	}
	row := make([]any, len(t.Columns))
	for i := range t.Columns {
		c := &t.Columns[i]
		raw, ok := members[c.Name]
		if !ok || bytes.Equal(raw, []byte("null")) {
			switch {
			case i == 0 && !ok:
				row[i] = []byte(lsn.String())
			case c.Nullable:
				row[i] = nil
			default:
				return nil, messageErr(t, c.Name, body, fmt.Errorf("%w: member %q is required", errMessageBody, c.Name))
			}
			continue
		}
		if c.Type == "jsonb" || c.Type == "json" {
			row[i] = []byte(raw)
			continue
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, messageErr(t, c.Name, body, fmt.Errorf("%w: member %q must be a string", errMessageBody, c.Name))
		}
		row[i] = []byte(s)
	}
	return row, nil
}

func messageErr(t *schema.Table, col string, body []byte, err error) error {
	return &schema.ValueError{Table: t.ID, Column: col, Type: "logical decoding message", Value: schema.Printable(body), Err: err}
}
