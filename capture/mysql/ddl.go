package mysql

import (
	"strings"
)

// Statement kinds of a binlog QUERY event.
type stmtKind int

const (
	stmtOther     stmtKind = iota // GRANT, CREATE USER, ANALYZE, FLUSH, ...: ends a statement transaction
	stmtBegin                     // BEGIN / START TRANSACTION / XA START
	stmtCommit                    // COMMIT
	stmtRollback                  // ROLLBACK (a transaction that touched a non-transactional table)
	stmtSavepoint                 // SAVEPOINT, ROLLBACK TO, RELEASE SAVEPOINT: inside a transaction
	stmtDDL                       // CREATE/ALTER/DROP/RENAME/TRUNCATE of schema objects
	stmtXA                        // XA START/END/PREPARE/COMMIT/ROLLBACK
)

// classify tells what a QUERY event's statement does. Comments and
// whitespace before the first keyword are skipped. Statements about users,
// roles and servers are never DDL: their text can hold password hashes,
// which must not reach Kafka.
func classify(query string) stmtKind {
	words := leadingWords(query, 5)
	if len(words) == 0 {
		return stmtOther
	}
	switch words[0] {
	case "BEGIN":
		return stmtBegin
	case "START":
		if len(words) > 1 && words[1] == "TRANSACTION" {
			return stmtBegin
		}
	case "COMMIT":
		return stmtCommit
	case "ROLLBACK":
		if len(words) > 1 && (words[1] == "TO" || words[1] == "WORK" && len(words) > 2 && words[2] == "TO") {
			return stmtSavepoint
		}
		return stmtRollback
	case "SAVEPOINT", "RELEASE":
		return stmtSavepoint
	case "XA":
		return stmtXA
	case "CREATE", "ALTER", "DROP", "RENAME", "TRUNCATE":
		for _, w := range words[1:] {
			switch w {
			case "USER", "ROLE", "SERVER":
				return stmtOther
			}
		}
		return stmtDDL
	}
	return stmtOther
}

// leadingWords returns up to n upper-cased leading keywords of a statement,
// after comments ("/* */", "-- ", "#") and whitespace. Words are letters and
// '_'; anything else ends the scan.
func leadingWords(q string, n int) []string {
	var out []string
	for len(out) < n {
		q = skipSpaceAndComments(q)
		i := 0
		for i < len(q) && (q[i] >= 'a' && q[i] <= 'z' || q[i] >= 'A' && q[i] <= 'Z' || q[i] == '_') {
			i++
		}
		if i == 0 {
			break
		}
		out = append(out, strings.ToUpper(q[:i]))
		q = q[i:]
	}
	return out
}

func skipSpaceAndComments(q string) string {
	for {
		q = strings.TrimLeft(q, " \t\r\n")
		switch {
		case strings.HasPrefix(q, "/*"):
			end := strings.Index(q[2:], "*/")
			if end < 0 {
				return ""
			}
			q = q[2+end+2:]
		case strings.HasPrefix(q, "-- "), strings.HasPrefix(q, "#"):
			end := strings.IndexByte(q, '\n')
			if end < 0 {
				return ""
			}
			q = q[end+1:]
		default:
			return q
		}
	}
}
